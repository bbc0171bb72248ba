"""gpi.cython_ext"""
