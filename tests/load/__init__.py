"""A loopback-only load-test harness for the Teams notifier's SQS batch handler (see driver.py).

Virtual time, real HTTP: the Teams stand-in is a real HTTP server on 127.0.0.1, but every clock
(the stand-in's rate limiter, the queues, the Lambda context, the handler's sleep) is one
``VirtualClock`` that jumps instead of sleeping, so hundreds of modelled seconds run in a few.
"""
