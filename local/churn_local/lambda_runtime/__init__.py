"""The Lambda stand-in: the context, warm environments and their processes, the function's variables, the runner."""
