"""voxemo.corpora"""
