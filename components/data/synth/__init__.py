"""The embedded "synth" dataset: procedural scenes rendered analytically, with exact ground truth for every task.

scene: primitives, textures and the scene sampler; render: the ray caster, perspective views and boundaries;
panorama: equirectangular panoramas with global-frame normals; video: clips with camera and object motion and
exact flow between any two frames.
"""
