"""The answer path: question -> evidence -> (optional) generation -> verification.

Pages and the CLI import from here; nothing here imports a page.
"""
