"""Encoder: decode a video, measure its structure with a backbone, project to SV6D vectors.

Heavy libraries (torch, transformers, cv2) load inside the submodules that use them.
"""
