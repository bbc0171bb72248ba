"""gpi.plugins"""
