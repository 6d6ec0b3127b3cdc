"""The stack deployed with `sam deploy` into an AWS emulator (MiniStack) on this machine, and torn down again."""
