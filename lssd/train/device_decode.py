"""Shard frames decoded on the trainer's device: the loader ships JPEG bytes, the GPU decodes them.

With ``data.decode: device`` (``lssd train --shards ... --decode device``; ``auto`` picks it when the
run trains on a GPU) a loader worker does what is cheap on a CPU (the plan, the window and crop
draws, reading the JPEG bytes of the clip's frames, the audio features) and leaves what is not
(JPEG decoding, half of a quadruplet's CPU from 1080p shards) to the trainer's device:
TorchCodec's ``decode_jpeg`` decodes a whole micro-batch's frames in one call (one nvJPEG batch on
CUDA), then each clip is scaled and cropped by the same affine map as the CPU path's
``cv2.warpAffine`` (bilinear, edge pixels replicated) with ``grid_sample``.

The draws are the CPU path's, in its order, so a run sees the same windows, crops and languages
either way; pixels agree to interpolation rounding (OpenCV's bilinear weights are 5-bit fixed
point; nvJPEG's IDCT is not libjpeg-turbo's), a few levels out of 255.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

DECODE_CHOICES = ("auto", "cpu", "device")  # data.decode


@dataclass(frozen=True)
class EncodedClips:
    """Clips as their JPEG frames: one clip (a loader item) or a micro-batch of them (collated).

    ``data[offsets[f]:offsets[f + 1]]`` is frame f's JPEG; clip b is the frames ``frames[b]`` (T each;
    a frame held past the shot's end is stored once), warped to ``crop`` x ``crop`` by ``warp[b]``
    (the 2 x 3 map from a stored frame's pixels to the crop's, as ``cv2.warpAffine`` takes it).
    """

    data: torch.Tensor  # uint8 (bytes,)
    offsets: torch.Tensor  # int64 (frames + 1,)
    frames: torch.Tensor  # int64 (B, T)
    warp: torch.Tensor  # float64 (B, 2, 3)
    crop: int

    @staticmethod
    def of_clip(jpegs: list[bytes], frames: list[int], warp: np.ndarray, crop: int) -> EncodedClips:
        """One clip: its distinct frames' JPEGs and, per clip frame, which of them it shows."""
        sizes = np.fromiter((len(j) for j in jpegs), dtype=np.int64, count=len(jpegs))
        return EncodedClips(torch.frombuffer(bytearray(b"".join(jpegs)), dtype=torch.uint8),
                            torch.from_numpy(np.concatenate([[0], np.cumsum(sizes)])),
                            torch.tensor([frames], dtype=torch.int64),
                            torch.from_numpy(np.asarray(warp, dtype=np.float64)[None]), crop)

    @staticmethod
    def collate(clips: list[EncodedClips]) -> EncodedClips:
        """A micro-batch: the clips' bytes end to end, frame numbers shifted to match."""
        sizes = torch.tensor([0] + [c.data.numel() for c in clips[:-1]]).cumsum(0)
        counts = torch.tensor([0] + [c.offsets.numel() - 1 for c in clips[:-1]]).cumsum(0)
        return EncodedClips(
            torch.cat([c.data for c in clips]),
            torch.cat([clips[0].offsets[:1]] + [c.offsets[1:] + s for c, s in zip(clips, sizes)]),
            torch.cat([c.frames + n for c, n in zip(clips, counts)]),
            torch.cat([c.warp for c in clips]), clips[0].crop)

    def __len__(self) -> int:
        return self.frames.shape[0]

    def pin_memory(self) -> EncodedClips:
        """DataLoader's ``pin_memory=True`` calls this: the bytes go to the GPU's decoder asynchronously."""
        return replace(self, data=self.data.pin_memory())

    def jpegs(self) -> list[torch.Tensor]:
        """Each stored frame's bytes (CPU views, as ``decode_jpeg`` takes them whatever the device)."""
        bounds = self.offsets.tolist()
        return [self.data[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def decode_clips(clips: EncodedClips, device: torch.device | str) -> torch.Tensor:
    """(B, T, crop, crop, 3) uint8 RGB on ``device``: the CPU path's clips (:func:`lssd.train.stream`),
    decoded and warped there. Feed the result to :func:`lssd.train.augment.normalise_video`.

    Every stored frame belongs to one clip; frames of one size (usually the whole batch) are warped in
    one ``grid_sample`` call, each with its clip's grid."""
    device = torch.device(device)
    decode = _decoder()
    try:
        images = decode(clips.jpegs(), mode="RGB", device=device)
    except RuntimeError as err:
        from lssd.errors import BadInputError

        raise BadInputError(f"a shard frame does not decode on {device} ({str(err).splitlines()[0]}): "
                            "rebuild the shards") from None
    owner = torch.zeros(len(images), dtype=torch.int64)
    for b, frames in enumerate(clips.frames.tolist()):
        owner[frames] = b
    warped = torch.empty((len(images), clips.crop, clips.crop, 3), dtype=torch.uint8, device=device)
    by_size: dict[tuple[int, int], list[int]] = {}
    for f, image in enumerate(images):
        by_size.setdefault(tuple(image.shape[-2:]), []).append(f)
    for size, group in by_size.items():
        grids = {b: _grid(clips.warp[b], size, clips.crop) for b in set(owner[group].tolist())}
        grid = torch.cat([grids[b] for b in owner[group].tolist()]).to(device)
        stack = torch.stack([images[f] for f in group]).to(torch.float32)
        out = torch.nn.functional.grid_sample(stack, grid, mode="bilinear", padding_mode="border",
                                              align_corners=False)
        warped[torch.tensor(group, device=device)] = out.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return warped[clips.frames.to(device)]


def _decoder() -> Any:
    """TorchCodec's ``decode_jpeg`` (torchvision's image decoders, its predecessor, are deprecated)."""
    try:
        from torchcodec.decoders import decode_jpeg
    except (ImportError, OSError, RuntimeError) as err:  # it loads FFmpeg's libraries on import
        from lssd.errors import BadInputError

        raise BadInputError(f"decoding shard frames on the device needs TorchCodec ({err}); pip install "
                            "torchcodec, or train with --decode cpu") from None
    return decode_jpeg


def _grid(warp: torch.Tensor, size: tuple[int, int], crop: int) -> torch.Tensor:
    """``grid_sample``'s (1, crop, crop, 2) sampling grid for ``cv2.warpAffine(src, warp, (crop, crop))``
    on a ``size`` frame: crop pixel x samples the source at x_src = (x - warp[0, 2]) / warp[0, 0] (pixel
    centres), normalised as ``align_corners=False`` reads it. The warp only scales and shifts."""
    height, width = size
    axes = []
    for row, extent in ((1, height), (0, width)):
        src = (torch.arange(crop, dtype=torch.float64) - float(warp[row, 2])) / float(warp[row, row])
        axes.append(((2 * src + 1) / extent - 1).to(torch.float32))
    gy, gx = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([gx, gy], dim=-1)[None]


def video_input(value: torch.Tensor | EncodedClips, device: torch.device, cfg: Any) -> torch.Tensor:
    """A batch's ``v_p``/``v_s`` as the model's float input on ``device``, decoding shipped JPEGs there."""
    from lssd.train.augment import normalise_video

    if isinstance(value, EncodedClips):
        return normalise_video(decode_clips(value, device), cfg)
    return normalise_video(value.to(device, non_blocking=True), cfg)


def resolve_decode(choice: str, device: torch.device, shards: bool) -> str:
    """A recipe's ``data.decode`` for this run: ``auto`` is ``device`` when the run reads shards on a
    GPU, else ``cpu``; ``device`` needs shards."""
    from lssd.errors import BadInputError

    if choice == "device" and not shards:
        raise BadInputError("data.decode=device needs --shards: the index loader decodes containers with "
                            "PyAV on the CPU")
    if choice == "auto":
        return "device" if shards and device.type == "cuda" else "cpu"
    return choice
