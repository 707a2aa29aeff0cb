"""The ImageNet expert: EfficientNet-Lite0 with its 1000 ImageNet classes, untouched, which looks at the sharp photo
beside the CIFAR networks (they see every photo through 32x32, as their training images were).

Its answer is read in our terms through a table that sends each ImageNet class to at most one of the ten, or to
"other". The table is written from ImageNet's class list (imagenet_classes.tsv: index, WordNet id, name) and
WordNet's meaning of each class, following CIFAR-10's own definitions of its classes, never from photos:

- CIFAR-10 (Krizhevsky 2009) says "automobile" includes sedans, SUVs and things of that sort, "truck" only big
  trucks, and neither includes pickup trucks: so ImageNet's pickup is "other", though WordNet files it under
  truck. Buses, trams, tractors, tanks and machines on wheels are none of the ten.
- "cat" is the domestic cat: ImageNet's five (tabby, tiger cat, Persian, Siamese, Egyptian cat), not the big cats.
- "dog" is the domestic dog: ImageNet's 118 breeds, 151-268; wolves, foxes, dingoes and hyenas are other.
- "airplane" is an airliner or a warplane; airships, space shuttles and the carpenter's plane are other.
- "ship" is any watercraft, boats included, as CIFAR's ship images are; a shipwreck is a ship.
- "deer": ImageNet has no deer. Its nearest animals, the three slender antelopes (hartebeest, impala, gazelle),
  stand for it; the CIFAR networks know deer and carry the class where the antelopes do not.
- "horse": ImageNet's one horse class is sorrel (a chestnut horse); grey, white or black horses fall elsewhere in
  ImageNet, where the CIFAR networks carry them. Zebras are other.
- "bird" and "frog": every ImageNet bird and its three frogs.
"""

from pathlib import Path

from mlcore.labels import CLASSES

CLASS_LIST = Path(__file__).with_name("imagenet_classes.tsv")
NAME = "imagenet-efficientnet-lite0"
IMAGE_SIZE = 224  # the input the network was trained at on ImageNet
# A photo is decoded at the smallest JPEG DCT scale that keeps this many pixels on its shorter side (the DCT's
# own scaling is an area average; Lanczos does the last step). Measured on the real photos: the same answers as
# from the fully decoded photo, at a third of the decoding time for a 1200x729 JPEG.
DECODE_SIDE = IMAGE_SIZE
REPRESENTATIVE_IMAGES = 200  # CIFAR training images whose activation ranges set the full-integer model's scales
# What its weights were trained on, as names and counts (the Model data page words them in the reader's language).
TRAINED_ON = {"dataset": "ImageNet", "release": "ILSVRC 2012", "images": 1_281_167, "classes": 1000}

# ImageNet output indices (see imagenet_classes.tsv) by the class of ours they count for; everything else: other.
GROUPS = {
    "airplane": (404, 895),  # airliner, warplane
    "automobile": (407, 436, 468, 511, 609, 627, 656, 661, 751, 817),  # WordNet's cars: ambulance … sports car
    "bird": (*range(7, 25), *range(80, 101), *range(127, 147)),  # cock … great grey owl, grouse … swan, stork …
    "cat": tuple(range(281, 286)),  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "deer": (351, 352, 353),  # hartebeest, impala, gazelle: ImageNet has no deer
    "dog": tuple(range(151, 269)),  # Chihuahua … Mexican hairless, the domestic dog's breeds
    "frog": (30, 31, 32),  # bullfrog, tree frog, tailed frog
    "horse": (339,),  # sorrel
    # aircraft carrier, canoe, catamaran, container ship, fireboat, gondola, lifeboat, liner, pirate ship,
    # schooner, speedboat, submarine, trimaran, wreck, yawl
    "ship": (403, 472, 484, 510, 554, 576, 625, 628, 724, 780, 814, 833, 871, 913, 914),
    "truck": (
        555,
        569,
        675,
        734,
        864,
        867,
    ),  # fire engine, garbage truck, moving van, police van, tow truck, trailer truck
}


def class_list() -> list[tuple[str, str]]:
    """(WordNet id, name) of each ImageNet class, in output order."""
    rows = [line.split("\t") for line in CLASS_LIST.read_text().splitlines() if not line.startswith("#")]
    return [(wnid, name) for _, wnid, name in rows]


def class_map() -> dict:
    """Our class name -> the ImageNet output indices summed into it, for an expert's metadata."""
    return {name: list(GROUPS[name]) for name in CLASSES}


def build_expert(folder, representative, *, progress=print) -> Path:
    """Write the ImageNet expert as a bundle of one network into `folder`: the 1000-class network with its ImageNet
    weights (from the installed weight package, through the tested conversion), served by LiteRT as a
    full-integer model whose activation ranges come from `representative` (uint8 images at 224x224), and its
    metadata: the class list and the table that maps it onto the ten classes."""
    from mlcore import bundle
    from mlcore.architectures import efficientnet_lite0
    from mlcore.fitting import flops_per_image, layer_table
    from mlcore.preprocessing import preprocessing_description

    progress(f"Converting the ImageNet network ({efficientnet_lite0.WEIGHTS_PACKAGE}) into the ImageNet expert ...")
    model = efficientnet_lite0.make_model(IMAGE_SIZE, 1000, pretrained=True)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / bundle.SERVING_FILE).write_bytes(bundle.serving_model_bytes(model, None, True, representative))
    names = class_list()
    metadata = {
        "name": NAME,
        "created_at": bundle.utc_now(),
        "architecture": (
            "EfficientNet-Lite0 with its ImageNet classifier, untouched: 1000 ImageNet classes, read as the ten "
            "through a table"
        ),
        "architecture_name": efficientnet_lite0.NAME,
        "weights_trained_on": TRAINED_ON,
        "weights": efficientnet_lite0.WEIGHTS_PACKAGE,
        "classes": [name for _, name in names],
        "wordnet_ids": [wnid for wnid, _ in names],
        "class_map": class_map(),
        "input": {"shape": [IMAGE_SIZE, IMAGE_SIZE, 3], "dtype": "float32", "range": [0, 255], "layout": "NHWC RGB"},
        "output": "logits",
        "preprocessing": preprocessing_description(IMAGE_SIZE, decode_side=DECODE_SIDE),
        "tta": "none",
        "parameters": int(model.count_params()),
        "flops_per_image": flops_per_image(model),
        "layers": layer_table(model),
        "serving": {
            "file": bundle.SERVING_FILE,
            "runtime": "LiteRT (XNNPACK)",
            "weights": (
                f"int8 weights and activations (ranges from {len(representative)} CIFAR-10 training images "
                f"enlarged to {IMAGE_SIZE}x{IMAGE_SIZE})"
            ),
            "tta": "none",
            "outputs": ["logits"],
        },
        "hardware": bundle.hardware_description(),
        "libraries": bundle.library_versions(),
        "git_commit": bundle.git_commit(),
    }
    bundle.write_json(folder, bundle.METADATA_FILE, metadata)
    return folder
