"""One module per stack kind; `stacks.platform.build_platform` composes them from the config."""
