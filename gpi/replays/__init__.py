"""gpi.replays"""
