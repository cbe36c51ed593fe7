"""voxemo.features"""
