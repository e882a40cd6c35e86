"""Synthetic face videos with known physiology.

The renderer follows a simple physical image-formation model per pixel::

    value = gain * (L(t, x, y, c) * rho(x, y, c) * (1 + a_c * p(t) * skin(x, y)) + A_c(t)) + noise

with ``L`` the illumination (global intensity, colour, flicker and a spatially
non-uniform field), ``rho`` the reflectance of face and background, ``a_c`` the
per-channel pulse strength (green strongest), ``p`` the normalised PPG waveform,
``skin`` the skin weight, ``A_c`` additive ambient light and ``noise`` shot + read
sensor noise.  Illumination, ambient light and camera shake act on the *whole
frame*: background pixels carry the same corruption as the face, which is the
premise of inverse attention.

The package, in the order a clip is made:

* :mod:`~distraction.synth.presets`: the corruption presets (:data:`CONDITIONS`);
* :mod:`~distraction.synth.physiology`: PPG and respiration with variable rates;
* :mod:`~distraction.synth.dynamics`: the per-frame motion and light of a clip;
* :mod:`~distraction.synth.cartoon`: drawn subjects as static :class:`Layers`;
* :mod:`~distraction.synth.photo`: photographed subjects (a real face photo, segmented);
* :mod:`~distraction.synth.scene`: rooms, textures and framing to place a person in;
* :mod:`~distraction.synth.compositor`: the image-formation model over any :class:`Layers`;
* :mod:`~distraction.synth.clip`: one atomic writer of video, ground truth and sidecars.

Everything is deterministic by seed.
"""

from distraction.synth.cartoon import Identity, make_identity, render_frames, skin_mask
from distraction.synth.clip import write_clip, write_rendered
from distraction.synth.compositor import PULSE_CHANNEL_RATIO, Layers, render
from distraction.synth.dynamics import SceneDynamics, scene_dynamics
from distraction.synth.physiology import (
    GROUND_TRUTH_FS,
    Physiology,
    clip_seeds,
    simulate_physiology,
)
from distraction.synth.presets import CONDITIONS, Corruption

__all__ = [
    "CONDITIONS",
    "GROUND_TRUTH_FS",
    "PULSE_CHANNEL_RATIO",
    "Corruption",
    "Identity",
    "Layers",
    "Physiology",
    "SceneDynamics",
    "clip_seeds",
    "make_identity",
    "render",
    "render_frames",
    "scene_dynamics",
    "simulate_physiology",
    "skin_mask",
    "write_clip",
    "write_rendered",
]
