"""voxemo.models"""
