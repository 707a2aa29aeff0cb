"""The training recipe in one place, with units beside each number.

The recipe follows airbench94 with the Muon optimiser (Keller Jordan, cifar10-airbench): a whitening-initialised
first layer, three conv groups with identity-initialised filters, frozen BatchNorm scales, label smoothing,
alternating flips and 2-pixel translations, a linear learning-rate decay and flip-and-translate test-time
augmentation.
"""

from dataclasses import asdict, dataclass

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # per channel, on pixels scaled to 0..1
CIFAR_STD = (0.2470, 0.2435, 0.2616)
IMAGE_SIZE = 32  # pixels, square


@dataclass(frozen=True)
class TrainConfig:
    epochs: float = 14.0  # passes over the training split; fractions allowed
    batch_size: int = 2000  # images per optimiser step
    seed: int = 0
    val_fraction: float = 0.04  # share of the training split held out for model selection
    limit: int | None = None  # images per class, for quick runs
    widths: tuple[int, int, int] = (64, 320, 320)  # channels of the three conv groups
    batchnorm_momentum: float = 0.6  # weight of the running statistics (Keras convention)
    label_smoothing: float = 0.2
    filter_lr: float = 0.24  # Muon step size for conv filters, decayed linearly to 0
    filter_momentum: float = 0.6  # Nesterov momentum of Muon
    bias_lr: float = 0.053  # SGD step size for BatchNorm and whitening biases, per summed-loss gradient
    head_lr: float = 0.67  # SGD step size for the classifier weights
    sgd_momentum: float = 0.85  # Nesterov momentum of SGD
    weight_decay: float = 2e-6  # per example in the batch, decoupled from the learning rate
    whiten_bias_epochs: float = 3.0  # the whitening bias trains this long, then freezes
    whiten_patch_images: int = 5000  # training images whose 2x2 patches set the whitening filters
    whiten_eps: float = 5e-4
    translate: int = 2  # pixels of random translation (reflect padding)
    cutout: int = 0  # side in pixels of a square painted the mean colour at a random place; 0 turns it off
    lookahead_every: int = 0  # steps between weight-averaging updates (airbench's lookahead); 0 turns it off
    lookahead_decay: float = 0.95**5  # the average's decay at the end of the run (it grows as progress cubed)
    precision: str = "mixed_bfloat16"  # training arithmetic: mixed_bfloat16 (1.3x faster here) or float32
    # Test-time augmentation for evaluation and serving: none, flip (2 views) or flip_translate (6 views). Flip
    # keeps one image under 2 ms on one core here (1.3 ms); 6 views add 0.1-0.3 point for 3x the time.
    tta: str = "flip"
    quantize_serving: bool = True  # int8 weights in the serving model (see bundle.serving_model_bytes)

    def as_dict(self) -> dict:
        return asdict(self)
