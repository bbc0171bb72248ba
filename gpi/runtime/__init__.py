"""gpi.runtime"""
