"""The model data page for a bundle of experts, read from the shipped bundle (models/cifar10): the experts with
their weights, the rule with the figures that chose it, the ImageNet classes read as ours, the layer tables
collapsed by block, the comparison with the previous bundle of one network, and the page in Ukrainian."""

import json
import re
import xml.etree.ElementTree as ET
from html import unescape

import pytest
from django.conf import settings
from django.utils import translation

from classifier import formats
from classifier.class_names import class_name
from classifier.formats import duration
from classifier.models import ModelVersion
from mlcore import bundle

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_active_version")]

SHIPPED = settings.SHIPPED_MODEL_DIR
PREVIOUS = SHIPPED / "experts" / "cifar10-efficientnet-lite0"  # the bundle of one network shipped before
SVG = {"svg": "http://www.w3.org/2000/svg"}
UKRAINIAN = {"HTTP_ACCEPT_LANGUAGE": "uk-UA,uk;q=0.9"}


def read(path, name=bundle.METADATA_FILE):
    return json.loads((path / name).read_text())


def expert_metadata(name):
    return read(SHIPPED / "experts" / name)


@pytest.fixture
def served(settings):
    settings.MODEL_DIR = SHIPPED
    return SHIPPED


@pytest.fixture
def versions(served):
    """The shipped bundle (active) and the previous one, registered as `make run` registers it."""
    return [
        ModelVersion.objects.create(name=read(path)["name"], path=str(path), metadata=read(path), is_active=active)
        for path, active in ((SHIPPED, True), (PREVIOUS, False))
    ]


def page_of(client, query="", **headers):
    response = client.get("/model/" + query, **headers)
    assert response.status_code == 200
    return response.content.decode()


def section(page, section_id):
    start = page.index(f'<section id="{section_id}">')
    return page[start : page.index("</section>", start)]


def text_of(html):
    """What a reader sees: block elements apart, inline ones run on."""
    spaced = re.sub(
        r"</?(?:p|dt|dd|li|ul|tr|th|td|h\d|caption|summary|details|div|figure|figcaption)\b[^>]*>", " ", html
    )
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", spaced))).strip()


def table_rows(html):
    """Each row of the tables in `html` as the texts of its cells."""
    return [
        [text_of(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)
    ]


def percent(share, digits=2):
    return f"{100 * share:.{digits}f}%"


def test_the_experts_are_named_with_their_networks_weights_and_figures_alone(client, served):
    metadata, evaluation, photos = read(served), read(served, "evaluation.json"), read(served, "photos.json")
    rows = {row[0]: row[1:] for row in table_rows(section(page_of(client), "experts"))}
    names = [entry["name"] for entry in metadata["experts"]]
    assert rows["Expert"] == names
    assert rows["Network"] == [entry["network"] for entry in metadata["experts"]]
    assert rows["Sees"] == ["128×128 pixels, through 32×32", "32×32 pixels", "224×224 pixels"]
    assert rows["Test-time augmentation"] == ["mirror image", "mirror image", "none"]
    assert rows["Parameters"] == [f"{expert_metadata(name)['parameters']:,}" for name in names]
    for case in metadata["rule"]:
        label = {"thumbnail": "thumbnails", "photo": "photos"}[case["name"]]
        weights = [f"{case['weights'][name]:g}" if name in case["weights"] else "—" for name in names]
        assert rows[f"Weight for {label}"] == weights
    assert rows["Weight for thumbnails"] == ["0.7", "0.3", "—"] and rows["Weight for photos"] == ["0.6", "—", "0.4"]
    alone_on_test = {row["name"]: percent(row["accuracy"]) for row in evaluation["experts"]}
    assert rows["Alone: test images"] == [alone_on_test.get(name, "—") for name in names]
    assert rows["Alone: test images"][:2] == ["92.05%", "91.27%"]
    on_photos = {row["name"]: row for row in photos["experts"]}
    imagenet = on_photos[names[2]]
    assert (
        rows["Alone: real photos"][2]
        == f"{percent(imagenet['accuracy'])} ({imagenet['correct']} of {imagenet['photos']})"
    )
    thumbnail_alone = metadata["rule"][0]["figures"]["alone"]
    assert rows["Alone: validation images"] == [
        percent(thumbnail_alone[names[0]]),
        percent(thumbnail_alone[names[1]]),
        "—",
    ]
    assert (
        rows["Trained on"][0] == f"CIFAR-10 ({expert_metadata(names[0])['training']['train_images']:,} training images)"
    )
    assert rows["Trained on"][2] == "ImageNet (ILSVRC 2012, 1,281,167 photos, 1,000 classes)"


def test_the_rule_shows_each_case_with_its_thresholds_as_the_metadata_has_them(client, served):
    metadata = read(served)
    rule = section(page_of(client), "rule")
    text = text_of(rule)
    assert "a weighted log-linear pool" in text
    thumbnail, photo = metadata["rule"]
    assert "Inputs Images whose shorter side is at most 64 pixels" in text
    assert "Inputs Images whose shorter side is at least 65 pixels" in text
    assert f"Temperature {thumbnail['temperature']}" in text and "Temperature 0.9418" in text
    assert "cifar10-efficientnet-lite0 (EfficientNet-Lite0): 0.7; cifar10-airbench (airbench94): 0.3" in text
    ((alone,),) = photo["none_if"]
    assert alone["above"] == 0.833
    assert "imagenet-efficientnet-lite0 puts more than 0.833 of its answer outside the ten classes" in text
    # on photos the CIFAR network answers without its mirror view: as many photos right, one view cheaper
    assert photo["tta"] == {"cifar10-efficientnet-lite0": "none"}
    assert (
        "cifar10-efficientnet-lite0 answers this case with none (its own: mirror image): 114 photos right with it, "
        "114 with its own, so the cheaper one is kept"
    ) in text
    thresholds = photo["figures"]["none_of_the_classes"]["photo_expert_alone"]
    assert [
        "imagenet-efficientnet-lite0’s share outside the ten, alone",
        f"{thresholds['threshold']:g}",
        f"{thresholds['range'][0]:g} to {thresholds['range'][1]:g}",
        f"{thresholds['outside_above']} of {thresholds['outside']}",
        f"{thresholds['inside_above']} of {thresholds['inside']}",
    ] in table_rows(rule)
    alone_row = next(row for row in table_rows(rule) if row[0].endswith(", alone"))
    assert alone_row[:4] == [
        "imagenet-efficientnet-lite0’s share outside the ten, alone",
        "0.833",
        "0.774 to 0.893",
        "27 of 27",
    ]
    measured = photo["figures"]["measured_on"]
    assert f"{measured['photos_of_the_ten']} real photos of the ten classes and 27 of other things" in text


def test_the_thumbnail_none_of_the_ten_options_are_measured_and_the_chosen_one_marked(client, served):
    figures = read(served)["rule"][0]["figures"]["none_of_the_classes"]
    rule = section(page_of(client), "rule")
    options = rule[rule.index('class="figures-table none-options"') :]
    rows = table_rows(options[: options.index("</table>")])[1:]
    assert len(rows) == len(figures["options"])
    for index, (row, option) in enumerate(zip(rows, figures["options"], strict=True)):
        assert row[1:] == [percent(option["real_flagged"], 1), percent(option["generated_caught"], 1)]
        assert row[0].endswith("(chosen)") == (index == figures["chosen"])
    assert rows[0] == [
        "cifar10-efficientnet-lite0’s own test finds the image unlike its training images (chosen)",
        "3.0%",
        "99.0%",
    ]


def test_the_weight_grids_are_charts_and_tables_with_the_chosen_weighting_marked(client, served):
    page = page_of(client)
    charts = {svg.get("id"): svg for svg in (ET.fromstring(text) for text in re.findall(r"<svg.*?</svg>", page, re.S))}
    for case in read(served)["rule"]:
        chosen = case["figures"]["weights"]
        chart = charts[f"weights-{case['name']}"]
        points = chart.findall(".//svg:circle", SVG)
        assert len(points) == len(chosen["grid"])
        ringed = chart.findall(".//svg:circle[@class='point chosen']", SVG)
        assert len(ringed) == 1
        first, second = chosen["weights"]
        best = next(point for point in chosen["grid"] if point["weights"] == chosen["weights"])
        assert ringed[0].find("svg:title", SVG).text == (
            f"{first} {chosen['weights'][first]:g}, {second} {chosen['weights'][second]:g}: "
            f"{percent(best['accuracy'])} right"
        )
    rule = section(page, "rule")
    chosen_rows = re.findall(r'<tr class="chosen">(.*?)</tr>', rule, re.S)
    assert [text_of(row) for row in chosen_rows[:1]] == ["0.7 0.3 94.35% (chosen) 1,887 0.193"]
    assert "All 11 weightings tried" in rule


def test_the_imagenet_classes_are_read_as_ours_with_the_long_lists_on_demand(client, served):
    imagenet = expert_metadata("imagenet-efficientnet-lite0")
    mapping = section(page_of(client), "classes-imagenet-efficientnet-lite0")
    assert "<h2>ImageNet classes read as ours</h2>" in mapping
    rows = {row[0]: row[1:] for row in table_rows(mapping)}
    assert rows["dog"][0] == "118" and len(imagenet["class_map"]["dog"]) == 118
    assert rows["deer"] == ["3", "hartebeest, impala, gazelle"]
    assert rows["horse"] == ["1", "sorrel"]
    assert re.search(r"<td><details><summary>118 classes</summary>Chihuahua, Japanese spaniel, ", mapping)
    assert "<details><summary>" not in mapping.split('<th scope="row">deer</th>')[1].split("</tr>")[0]
    other = len(imagenet["classes"]) - sum(len(indices) for indices in imagenet["class_map"].values())
    assert f"the other {other} count as “other”" in text_of(mapping)
    assert "ImageNet has no deer: its three slender antelopes, hartebeest, impala and gazelle" in text_of(mapping)


def test_every_layer_table_collapses_into_one_closed_details_per_block(client, served):
    architecture = section(page_of(client), "architecture")
    assert '<details class="layer-block" open' not in architecture
    summaries = re.findall(
        r'<details class="layer-block">\s*<summary><code>(.*?)</code>: (.*?)</summary>', architecture
    )
    efficientnet = [
        "pixels, scale",
        "stem",
        *(f"block{index}" for index in range(16)),
        "head",
        "pool, dropout, classifier",
    ]
    airbench = ["pixels, normalize", "whiten", "group1", "group2", "group3", "final_pool, flatten, head, logits"]
    assert [name for name, _ in summaries] == efficientnet + airbench + efficientnet
    layers = expert_metadata("cifar10-efficientnet-lite0")["layers"]
    block15 = [layer for layer in layers if layer["name"].startswith("block15_")]
    assert summaries[17] == (
        "block15",
        f"{len(block15)} layers, {sum(layer['parameters'] for layer in block15):,} parameters",
    )
    counts = [int(re.match(r"(\d+) layers?", figures).group(1)) for _, figures in summaries]
    assert sum(counts) == sum(
        len(expert_metadata(name)["layers"])
        for name in ("cifar10-efficientnet-lite0", "cifar10-airbench", "imagenet-efficientnet-lite0")
    )
    first = layers[2]
    assert f"<code>{first['name']}</code></th><td>{first['kind']}</td>" in architecture


def test_the_training_runs_come_from_each_experts_own_folder(client, served):
    page = page_of(client)
    training = text_of(section(page, "training"))
    for name in ("cifar10-efficientnet-lite0", "cifar10-airbench"):
        assert expert_metadata(name)["training"]["command"] in training
    weights = expert_metadata("imagenet-efficientnet-lite0")["weights"]
    assert f"Not trained here: its weights are those of {weights}, trained on ImageNet" in training
    seconds = read(served)["assemble_seconds"]
    assert f"{duration(seconds)} to measure the rule and score the combined answers" in training
    curves = section(page, "curves")
    assert 'id="loss-chart-cifar10-efficientnet-lite0"' in curves and 'id="loss-chart-cifar10-airbench"' in curves
    ids = re.findall(r'<svg [^>]*id="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_test_results_calibration_and_none_of_the_ten_are_the_combined_answers(client, served):
    evaluation, photos = read(served, "evaluation.json"), read(served, "photos.json")
    page = page_of(client)
    assert f"{percent(evaluation['accuracy'])} on {evaluation['images']:,} held-out test images" in page
    assert "Each expert alone on the same test images: cifar10-efficientnet-lite0 92.05%; cifar10-airbench 91.27%." in (
        text_of(section(page, "test"))
    )
    cells = re.findall(r'<td class="shade-\d( correct)?" title="[^"]*">(\d+)</td>', page)
    assert [int(cell[1]) for cell in cells] == [count for row in evaluation["confusion_matrix"] for count in row]
    assert "Temperature 0.9418 (the pool’s temperature for thumbnails" in text_of(section(page, "calibration"))
    none = text_of(section(page, "none-of-the-ten"))
    assert (
        f"{percent(evaluation['none_of_the_classes_rate'], 1)} would be answered “none of the ten classes”; "
        f"{evaluation['confident_and_none']} of them although the combined answer was at least 99% sure of one class"
    ) in none
    assert f"{percent(photos['other_flagged_none_rate'], 1)} of {photos['other_photos']} rightly called" in none
    assert "The own test of cifar10-efficientnet-lite0" in none and "energy 2.597, features -2799.117" in none
    real = text_of(section(page, "real-photos"))
    assert f"{percent(photos['accuracy'], 1)} of {photos['in_class_photos']} answered correctly" in real
    assert (
        "a photo of class “horse” answered “dog” (cifar10-efficientnet-lite0: horse, imagenet-efficientnet-lite0: dog)"
        in real
    )


def test_the_example_images_of_the_combined_answers_are_served(client, served):
    example = read(served, "evaluation.json")["confused_pairs"][0]["examples"][0].split("/")[-1]
    assert f'<img src="/model/examples/active/{example}"' in page_of(client)
    response = client.get(f"/model/examples/active/{example}")
    assert (
        response.status_code == 200
        and b"".join(response.streaming_content) == (served / "examples" / example).read_bytes()
    )


def test_the_experts_bundle_compared_with_the_previous_bundle_of_one_network(client, versions):
    experts, previous = (version.name for version in versions)
    page = page_of(client, f"?version={experts}&compare={previous}")
    table = section(page, "comparison")
    assert f'<th scope="col">{experts}</th><th scope="col">{previous}</th>' in table
    rows = {row[0]: row[1:] for row in table_rows(table)}
    assert rows["Test accuracy"] == ["93.29%", "92.05%", "-1.24 points"]
    photos, previous_photos = read(SHIPPED, "photos.json"), read(PREVIOUS, "photos.json")
    assert rows["Real photos: accuracy"][:2] == [percent(photos["accuracy"]), percent(previous_photos["accuracy"])]
    assert rows["Real photos of other things called “none of the ten”"][:2] == [
        percent(photos["other_flagged_none_rate"], 1),
        percent(previous_photos["other_flagged_none_rate"], 1),
    ]
    assert rows["Real photos of the ten called “none of the ten”"][:2] == [
        percent(photos["in_class_flagged_none_rate"], 1),
        percent(previous_photos["in_class_flagged_none_rate"], 1),
    ]
    total = sum(expert_metadata(entry["name"])["parameters"] for entry in read(SHIPPED)["experts"])
    single = read(PREVIOUS)["parameters"]
    assert rows["Parameters"] == [f"{total:,}", f"{single:,}", f"{single - total:+,}"]
    assert rows["Networks"] == ["3", "1", "-2"]
    assert rows["Epochs"] == ["not available", "4", ""]
    kept = 1 - read(SHIPPED)["rule"][0]["figures"]["none_of_the_classes"]["options"][0]["real_flagged"]
    assert rows["“None of the ten”: real images kept"][:2] == [
        percent(kept, 1),
        percent(read(PREVIOUS)["ood"]["true_positive_rate"], 1),
    ]
    thumbnail = sum(
        expert_metadata(name)["flops_per_image"] for name in ("cifar10-efficientnet-lite0", "cifar10-airbench")
    )
    assert rows["FLOPs per thumbnail"][0] == f"{thumbnail / 1e6:,.1f} million"


def test_the_previous_bundle_of_one_network_reads_as_before_with_its_layers_collapsed(client, settings):
    settings.MODEL_DIR = PREVIOUS
    page = page_of(client)
    for section_id in ("experts", "rule", "classes-imagenet-efficientnet-lite0"):
        assert f'<section id="{section_id}">' not in page
    assert page.count('<details class="layer-block">') == 20
    assert 'id="loss-chart"' in page and 'id="accuracy-chart"' in page
    assert "Every figure on this page is read from the model bundle that <code>manage.py train</code> wrote." in page


def test_every_table_sits_in_a_scroll_wrapper_and_nothing_is_inline(client, served):
    page = page_of(client)
    main = page[page.index("<main") :]
    assert main.count("<table") == len(re.findall(r'<div class="table-scroll"[^>]*>\s*<table', main))
    assert "style=" not in page and "<style" not in page and "<script" not in page


def test_the_page_of_experts_works_in_ukrainian(client, served):
    page = page_of(client, **UKRAINIAN)
    assert '<html lang="uk">' in page and "<h1>Дані моделі</h1>" in page
    with translation.override("uk"):
        accuracy = formats.percent(read(served, "evaluation.json")["accuracy"], 2)
        dog, deer = class_name("dog"), class_name("deer")
    assert accuracy in page and "93,29" in accuracy
    mapping = section(page, "classes-imagenet-efficientnet-lite0")
    assert f'<th scope="row">{dog}</th><td class="number">118</td>' in mapping
    assert f'<th scope="row">{deer}</th><td class="number">3</td><td>hartebeest, impala, gazelle</td>' in mapping
    assert page.count('<details class="layer-block">') == 46
    rows = {row[0]: row[1:] for row in table_rows(section(page, "experts"))}
    assert ["0,7", "0,3", "—"] in rows.values()


def test_the_version_list_offers_the_served_model_when_it_is_not_a_registered_version(client, served, settings):
    from classifier.services import model_version_register

    model_version_register(path=settings.MODEL_DIR / "experts" / "cifar10-efficientnet-lite0")
    page = page_of(client)
    assert '<option value="" selected>the served model</option>' in page
