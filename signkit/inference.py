"""`predict`: a model on new inputs -> what it recognises, one answer per input.

Inputs are videos (keypoints extracted on the fly with the estimator the model's keypoint layout calls for), pose
files (``.npz``, ``.pose``, Uni-Sign-style ``.pkl``), or one split of a packed dataset. The answer is the model's
own task: the top-k classes with their probabilities (ISLR), the gloss sequence (CSLR), or the text it writes (SLT,
and Uni-Sign-family ISLR models, which write the sign's word). An input in which no person (or no shoulders) was
found is still answered, and flagged (``flags``), so its low-confidence answer is never mistaken for a real one.

Example::

    import signkit
    for p in signkit.predict(["clip.mp4", "poses/clip02.npz"], model="runs/wlasl100"):
        print(p.key, p.classes[0])
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._media import VIDEO_SUFFIXES
from .datasets.inputs import INPUT_SUFFIXES as POSE_SUFFIXES  # .npz, .pose and Uni-Sign-style .pkl, as pack reads
from .errors import LayoutError, PoseError, SignkitError

NO_EVIDENCE_FLAGS = ("no_person", "no_shoulders")
PICKLE_FPS = 25.0


class PredictWarning(UserWarning):
    """Something about an input or the model that makes an answer less trustworthy (said once, in one line)."""


@dataclass
class Prediction:
    """One input's answer. ``classes`` (ISLR): ``{"class", "index", "probability"}``, best first; ``glosses``
    (CSLR); ``text`` (SLT / generative ISLR); ``flags``: why the answer may have no evidence behind it."""

    key: str
    source: str
    task: str
    classes: list[dict[str, Any]] | None = None
    glosses: list[str] | None = None
    text: str | None = None
    frames: int = 0
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def summary(self) -> str:
        """One line for people: ``KEY: answer`` (and the flags, when any)."""
        if self.classes is not None:
            answer = ", ".join(f"{c['class']} {c['probability']:.3f}" for c in self.classes)
        elif self.glosses is not None:
            answer = " ".join(self.glosses) or "(no glosses)"
        else:
            answer = self.text if self.text else "(empty)"
        flags = f"  [flagged: {', '.join(self.flags)}]" if self.flags else ""
        return f"{self.key}: {answer}{flags}"


# ---- which estimator extracts a video for a model --------------------------------------------------------------


def estimator_for(layout: str) -> tuple[str, str]:
    """``(estimator name, layout it writes)`` for extracting videos for a model that takes ``layout``.

    The one place `predict` asks the estimator table (`signkit.pose_extract.ESTIMATORS`): the first installed
    estimator that writes ``layout`` (RTMW for ``coco-wholebody-133``); where none is installed, the default one
    (MediaPipe Holistic), whose points are mapped to ``layout`` by name (`signkit.pose.mapping`), with a warning.
    """
    from .pose_extract.estimators import DEFAULT_ESTIMATOR, ESTIMATORS

    for entry in ESTIMATORS.values():
        if entry.layout == layout and entry.installed():
            return entry.name, entry.layout
    default = ESTIMATORS[DEFAULT_ESTIMATOR]
    return default.name, default.layout


def _video_options(net: Any, estimator: Any) -> Any:
    """How `predict` extracts videos for ``net``: the given estimator config, else `estimator_for`'s with the
    preset of the model's family (Uni-Sign-family models: rtmw's ``unisign`` preset, their authors' extraction)."""
    from .pose_extract import ExtractOptions
    from .pose_extract.estimators import estimator_config

    if estimator is None:
        name, _ = estimator_for(net.config.layout)
        if name == "rtmw" and net.config.input_transform == "uni-sign":
            from .pose_extract.rtmpose import RTMWConfig

            estimator = RTMWConfig.preset("unisign")
        else:
            estimator = estimator_config(name)
    return ExtractOptions(estimator=estimator)


def _warn_estimators(net: Any, names: list[str], source: str, warned: set) -> None:
    """One warning per set of estimators that differs from the model's training data (see `SigmaConfig`)."""
    key = ("estimators", tuple(sorted(names)))
    message = net.config.estimator_mismatch(names, source) if key not in warned else None
    if message:
        warned.add(key)
        warnings.warn(message, PredictWarning, stacklevel=3)


def _extract_video(path: Path, layout: str, warned: set, options: Any) -> Any:
    from .pose_extract import extract_clip

    written = options.estimator.layout
    if written != layout and layout not in warned:
        warned.add(layout)
        warnings.warn(
            f"the model was trained on {layout} keypoints, but no {layout} estimator is installed here: videos are "
            f"extracted with {options.estimator.name} ({written}) and mapped to {layout} (points without a "
            "counterpart masked); expect lower accuracy than on the keypoints it was trained on "
            "(pip install 'signkit[rtmpose]' for RTMW)",
            PredictWarning,
            stacklevel=3,
        )
    return extract_clip(path, options)


# ---- inputs -> batches -------------------------------------------------------------------------------------------


def _model_pose(pose: Any, layout: str, source: str) -> tuple[Any, list[str]]:
    """The pose in the model's layout and as packed datasets store it (shoulder-normalised), and its flags."""
    from .pose import is_normalized, normalize

    flags = [f for f in pose.meta.get("flags", []) if f in NO_EVIDENCE_FLAGS]
    if pose.layout != layout:
        try:
            pose = pose.to_layout(layout)
        except LayoutError:
            raise LayoutError(
                f"{source} is in layout {pose.layout}, which this model (layout {layout}) cannot take: signkit has no "
                f"mapping from {pose.layout} to {layout}; extract it with an estimator that writes {layout}"
            ) from None
    if not (pose.conf > 0).any():
        flags = flags if "no_person" in flags else [*flags, "no_person"]
    elif not is_normalized(pose):
        try:
            pose = normalize(pose)
        except PoseError:
            flags = flags if "no_shoulders" in flags else [*flags, "no_shoulders"]
    return pose, flags


def _batch(key: str, pose: Any, language: str | None) -> dict[str, Any]:
    """A batch of one, made by the loader's own collate (float16 as stored, the same padding and mask)."""
    import numpy as np
    import torch

    from .datasets.reader import collate

    sample = {
        "key": key,
        "label": -1,
        "pose": pose.coords.astype(np.float16),
        "conf": pose.conf.astype(np.float16),
        "gloss": None,
        "text": None,
        "signer": None,
        "language": language,
    }
    batch = collate([sample])
    size = pose.meta.get("frame_size") or [0, 0]  # source frame [W, H] (uni-sign input transform); 0: unknown
    batch["frame_size"] = torch.tensor([[float(size[0]), float(size[1])]])
    return batch


def _input_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in POSE_SUFFIXES:
        return "pose"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise SignkitError(
        f"{path}: not a video ({', '.join(VIDEO_SUFFIXES[:4])}, ...) or a pose file ({', '.join(POSE_SUFFIXES)}); "
        "give videos, pose files, a folder of them, or --data DATASET"
    )


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given; a folder gives its videos and pose files (not recursive), sorted."""
    out: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in (*POSE_SUFFIXES, *VIDEO_SUFFIXES))
            if not found:
                raise SignkitError(f"{path} holds no videos or pose files")
            out += found
        elif not path.is_file():
            raise SignkitError(f"{path} does not exist")
        else:
            _input_kind(path)
            out.append(path)
    return out


# ---- the model ----------------------------------------------------------------------------------------------------


class _Runner:
    """A loaded model on one device, and how its outputs become answers."""

    def __init__(self, model: Any, top_k: int, beams: int | None, max_new_tokens: int | None, classes: list[str]):
        from .train.loop import pick_device
        from .train.tasks import decoding

        self.net = model
        self.device = pick_device()
        self.net.to(self.device).eval()
        self.task = getattr(model, "task", None) or "slt"  # a pre-training model answers by writing text
        self.top_k = top_k
        labels = getattr(model, "labels", None) or {}
        self.classes = list(labels.get("classes") or classes)
        self.gloss_vocab = list(labels.get("gloss_vocab") or [])
        self.decode = decoding(model.config, beams, max_new_tokens) if self.task == "slt" else {}  # text models only
        self.ctc_beams = beams  # CTC decodes greedily unless a beam is asked for

    def __call__(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        import torch

        from .train.loop import to_device

        batch = to_device(batch, self.device)
        with torch.no_grad():
            if self.task == "islr":
                idx, prob = self.net.predict(batch, k=self.top_k)
                return [
                    {
                        "classes": [
                            {"class": self._class(int(i)), "index": int(i), "probability": round(float(p), 6)}
                            for i, p in zip(row_i, row_p, strict=True)
                        ]
                    }
                    for row_i, row_p in zip(idx.tolist(), prob.tolist(), strict=True)
                ]
            if self.task == "cslr":
                hyps = self.net.predict(batch, beam_size=self.ctc_beams or 1)
                vocab = self.gloss_vocab
                return [{"glosses": [vocab[i - 1] if 0 < i <= len(vocab) else f"#{i}" for i in h]} for h in hyps]
            return [{"text": t} for t in self.net.predict(batch, **self.decode)]

    def _class(self, index: int) -> str:
        return self.classes[index] if index < len(self.classes) else str(index)


def _load(model: Any) -> Any:
    if isinstance(model, (str, Path)):
        from . import zoo

        return zoo.load(model)
    return model


# ---- the call ------------------------------------------------------------------------------------------------------


def iter_predictions(
    inputs: Sequence[str | Path] = (),
    model: Any = "sigma-tiny",
    *,
    data: str | Path | None = None,
    split: str = "test",
    top_k: int = 5,
    beams: int | None = None,
    max_new_tokens: int | None = None,
    language: str | None = None,
    batch_size: int = 8,
    progress: bool | None = None,
    estimator: Any = None,
) -> Iterator[Prediction]:
    """Answers one by one, as they are computed (see `predict`)."""
    from ._progress import Progress

    if bool(inputs) == (data is not None):
        raise SignkitError("give inputs (videos, pose files, folders) or --data DATASET --split S, not both or neither")
    paths = expand_inputs(inputs)
    net = _load(model)
    layout = net.config.layout
    classes: list[str] = []
    if data is not None:
        from .train.run import label_space

        classes = label_space(data).classes
        classes = classes if getattr(net, "num_classes", None) == len(classes) else []
    run = _Runner(net, top_k, beams, max_new_tokens, classes)
    total = len(paths) if data is None else None
    if data is not None:
        from .train.data import DatasetSource

        source = DatasetSource(data, split, batch_size, training=False, layout=layout)
        total = source.ds.num_samples
        from .datasets import read_dataset_json

        _warn_estimators(net, read_dataset_json(data).estimators, str(data), set())
    # shown when there are many inputs, unless asked otherwise (a bar on a terminal, periodic lines in a log)
    enabled = (total or 0) >= 2 if progress is None else progress
    with Progress(total=total, desc="predict", unit="input", enabled=enabled) as bar:
        if data is not None:
            for batch in source.batches(0):
                for key, length, answer in zip(batch["key"], batch["length"].tolist(), run(batch), strict=True):
                    yield Prediction(key, f"{data}:{source.split}", run.task, frames=int(length), **answer)
                bar.update(len(batch["key"]))
            return
        warned: set = set()  # warnings given once: layouts, estimator sets
        video_options = None  # built at the first video
        for path in paths:
            key = path.stem
            if _input_kind(path) == "video":
                video_options = video_options or _video_options(net, estimator)
                pose = _extract_video(path, layout, warned, video_options)
            else:
                from .datasets.inputs import read_pose_input

                # a Uni-Sign pickle carries no frame rate; the models do not read it (frames are tokens)
                pose = read_pose_input(path, fps=PICKLE_FPS)
                made_by = (pose.meta.get("extractor") or {}).get("name")
                _warn_estimators(net, [made_by] if made_by else [], f"{path.name} (and inputs like it)", warned)
            pose, flags = _model_pose(pose, layout, str(path))
            if flags:
                warnings.warn(
                    f"{path}: {' and '.join(_FLAG_TEXT[f] for f in flags)}; it is answered anyway, but "
                    "the answer has no evidence behind it",
                    PredictWarning,
                    stacklevel=2,
                )
            (answer,) = run(_batch(key, pose, language))
            yield Prediction(key, str(path), run.task, frames=pose.num_frames, flags=flags, **answer)
            bar.update(1)


_FLAG_TEXT = {"no_person": "no person was detected", "no_shoulders": "no frame shows both shoulders"}


def predict(
    inputs: Sequence[str | Path] = (),
    model: Any = "sigma-tiny",
    *,
    data: str | Path | None = None,
    split: str = "test",
    top_k: int = 5,
    beams: int | None = None,
    max_new_tokens: int | None = None,
    language: str | None = None,
    batch_size: int = 8,
    progress: bool | None = None,
    estimator: Any = None,
) -> list[Prediction]:
    """Run ``model`` (a zoo name, a weights file or folder, a training run, or a loaded model) on ``inputs``
    (videos, pose files, folders of them) or on ``split`` of the packed dataset ``data``; one `Prediction` each.

    ``top_k``: classes per ISLR answer. ``beams``/``max_new_tokens``: decoding (default: the model config's;
    `signkit.train.tasks.decoding`). ``language``: the sign language code of the inputs, for models whose prompt
    names it (a packed dataset gives each sample's own). Videos are extracted with the estimator `estimator_for`
    names for the model's layout, or with ``estimator`` (an estimator config, e.g. ``RTMWConfig(det=..., pose=...)``).
    """
    return list(
        iter_predictions(
            inputs,
            model,
            data=data,
            split=split,
            top_k=top_k,
            beams=beams,
            max_new_tokens=max_new_tokens,
            language=language,
            batch_size=batch_size,
            progress=progress,
            estimator=estimator,
        )
    )
