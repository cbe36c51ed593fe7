"""voxemo.evaluation"""
