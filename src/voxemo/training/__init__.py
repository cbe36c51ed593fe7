"""voxemo.training"""
