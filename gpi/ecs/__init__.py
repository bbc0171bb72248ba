"""gpi.ecs"""
