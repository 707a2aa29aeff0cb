"""The model data page: every figure read from bundles made by tiny training runs, the SVG charts, choosing and
comparing versions, and the example images of the most confused pairs."""

import json
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest

from classifier.models import ModelVersion
from classifier_site.info import charts
from mlcore import bundle
from mlcore.architectures.airbench import Recipe
from mlcore.train import train

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.usefixtures("fresh_active_version")]

TINY = Recipe(epochs=2, batch_size=25, widths=(8, 16, 16), val_fraction=0.2, whiten_patch_images=50)
SVG = {"svg": "http://www.w3.org/2000/svg"}


def read(path, name):
    return json.loads((path / name).read_text())


def named_bundle(path, name):
    """Runs name their bundles by the minute, so two runs in one minute share a name: give each its own."""
    metadata = read(path, bundle.METADATA_FILE)
    metadata["name"] = name
    bundle.write_json(path, bundle.METADATA_FILE, metadata)
    return path


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, synthetic_dataset):
    """Two tiny bundles: two epochs of one network, one epoch of a narrower one."""
    root = tmp_path_factory.mktemp("bundles")
    silent = {"progress": lambda line: None}
    train(synthetic_dataset, TINY, root / "first", command="pytest first", **silent)
    train(synthetic_dataset, replace(TINY, epochs=1, widths=(8, 8, 8)), root / "second", **silent)
    return named_bundle(root / "first", "tiny-first"), named_bundle(root / "second", "tiny-second")


@pytest.fixture
def served(settings, bundles):
    settings.MODEL_DIR = bundles[0]
    return bundles[0]


@pytest.fixture
def versions(bundles):
    first, second = bundles
    return [
        ModelVersion.objects.create(
            name=read(path, bundle.METADATA_FILE)["name"],
            path=str(path),
            metadata=read(path, bundle.METADATA_FILE),
            is_active=active,
        )
        for path, active in ((first, True), (second, False))
    ]


def page_of(client, query=""):
    response = client.get("/model/" + query)
    assert response.status_code == 200
    return response.content.decode()


def svg_charts(page):
    return {svg.get("id"): svg for svg in (ET.fromstring(text) for text in re.findall(r"<svg.*?</svg>", page, re.S))}


def test_the_page_shows_the_served_bundles_own_figures(client, served):
    metadata, evaluation = read(served, bundle.METADATA_FILE), read(served, bundle.EVALUATION_FILE)
    page = page_of(client)
    assert metadata["name"] in page
    assert f"{100 * evaluation['accuracy']:.2f}% on {evaluation['images']} held-out test images" in page
    assert f'<data value="{metadata["parameters"]}">{metadata["parameters"]:,}</data>' in page
    assert f'<data value="{metadata["flops_per_image"]}">{metadata["flops_per_image"] / 1e6:,.1f} million' in page
    for layer in metadata["layers"]:
        assert f"<code>{layer['name']}</code></th><td>{layer['kind']}</td>" in page
    training = metadata["training"]
    assert f"<code>{training['command']}</code>" in page
    assert f"{training['train_images']} images trained on, {training['validation_images']} held out" in page
    assert f"{training['reviewed_uploads']} user photos" in page
    assert f"{metadata['libraries']['tensorflow']}" in page and metadata["hardware"]["cpu"] in page
    if metadata["git_commit"]:
        assert f"<code>{metadata['git_commit']}</code>" in page


def test_per_class_figures_and_every_confusion_cell_equal_the_evaluation(client, served):
    evaluation = read(served, bundle.EVALUATION_FILE)
    page = page_of(client)
    for row in evaluation["per_class"]:
        cells = "".join(
            f'<td class="number">{value}</td>'
            for value in (
                f"{100 * row['precision']:.1f}%",
                f"{100 * row['recall']:.1f}%",
                f"{100 * row['f1']:.1f}%",
                row["support"],
            )
        )
        assert f'<th scope="row">{row["class"]}</th>{cells}' in page
    cells = re.findall(r'<td class="shade-(\d)( correct)?" title="([^"]*)">(\d+)</td>', page)
    matrix = evaluation["confusion_matrix"]
    assert [int(cell[3]) for cell in cells] == [count for row in matrix for count in row]
    assert [bool(cell[1]) for cell in cells] == [i == j for i in range(10) for j in range(10)]
    rows_total = [sum(row) for row in matrix]
    first_row_shades = [int(cell[0]) for cell in cells[:10]]
    assert first_row_shades == [int(np.ceil(np.sqrt(count / rows_total[0]) * 9)) for count in matrix[0]]
    assert f"{evaluation['classes'][0]} predicted as {evaluation['classes'][1]}: {matrix[0][1]} of" in cells[1][2]


def test_calibration_and_none_of_the_ten_figures_equal_the_bundles(client, served):
    metadata, evaluation = read(served, bundle.METADATA_FILE), read(served, bundle.EVALUATION_FILE)
    page = page_of(client)
    assert f"{100 * evaluation['calibration']['ece']:.2f}% on the test images" in page
    assert f"<dd>{metadata['calibration']['temperature']:.3f}, fitted on" in page
    ood = metadata["ood"]
    thresholds = ", ".join(f"{name} {value:.3f}" for name, value in ood["thresholds"].items())
    assert f"<dt>Thresholds</dt><dd>{thresholds}</dd>" in page
    assert f"{100 * ood['true_positive_rate']:.1f}% of {ood['in_distribution']['images']}" in page
    assert f"{100 * ood['false_positive_rate']:.1f}% of {ood['out_of_distribution']['images']:,}" in page


def test_the_charts_are_svg_with_one_point_per_epoch(client, served):
    history = read(served, bundle.HISTORY_FILE)
    evaluation = read(served, bundle.EVALUATION_FILE)
    found = svg_charts(page_of(client))
    for chart_id, key, label in (("loss-chart", "loss", "Loss"), ("accuracy-chart", "accuracy", "Accuracy")):
        chart = found[chart_id]
        assert chart.get("role") == "img" and chart.find("svg:title", SVG).text
        texts = [text.text for text in chart.iter(f"{{{SVG['svg']}}}text")]
        assert "Epoch" in texts and label in texts and "training" in texts and "validation" in texts
        for series, prefix in (("training", "train_"), ("validation", "val_")):
            group = chart.find(f"svg:g[@data-series='{series}']", SVG)
            points = group.findall("svg:circle", SVG)
            assert len(points) == len(history)
            value = history[-1][prefix + key]
            shown = f"{value:.2f}" if key == "loss" else f"{100 * value:.1f}%"
            assert points[-1].find("svg:title", SVG).text == f"Epoch {len(history)}: {series} {shown}"
    bins = [row for row in evaluation["calibration"]["bins"] if row["count"]]
    assert len(found["reliability-diagram"].findall(".//svg:rect[@class='bin']", SVG)) == len(bins)


def test_the_page_has_no_inline_style_or_script(client, served):
    page = page_of(client)
    assert "style=" not in page and "<style" not in page and "<script" not in page


def test_chart_text_is_escaped():
    svg = charts.line_chart(
        chart_id="c",
        title='<script>alert("x")</script>',
        x_label="Epoch",
        y_label="Loss",
        x_values=[1, 2],
        series=[charts.Series("a & <b>", [1.0, 0.5], "#000")],
    )
    assert "<script" not in svg and "&lt;script&gt;" in svg and "a &amp; &lt;b&gt;" in svg
    ET.fromstring(svg)


def test_an_older_bundle_says_which_sections_it_lacks(client, settings, served, tmp_path):
    older = shutil.copytree(served, tmp_path / "older")
    metadata, evaluation = read(older, bundle.METADATA_FILE), read(older, bundle.EVALUATION_FILE)
    del metadata["calibration"], metadata["ood"], evaluation["calibration"], evaluation["confused_pairs"]
    bundle.write_json(older, bundle.METADATA_FILE, metadata)
    bundle.write_json(older, bundle.EVALUATION_FILE, evaluation)
    settings.MODEL_DIR = older
    page = page_of(client)
    assert "Calibration figures are not available for this model" in page
    assert "“none of the ten classes” figures are not available for this model" in page
    assert "Example images are not available for this model" in page
    assert "reliability-diagram" not in page and "loss-chart" in page


def test_a_bundle_that_cannot_be_read_is_reported(client, settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "missing"
    assert "cannot be read right now" in page_of(client)


def test_the_active_version_is_shown_by_default_and_another_can_be_chosen(client, bundles, versions):
    first, second = bundles
    page = page_of(client)
    assert '<option value="tiny-first" selected>tiny-first (served now)</option>' in page
    assert f"{100 * read(first, bundle.EVALUATION_FILE)['accuracy']:.2f}% on" in page
    page = page_of(client, "?version=tiny-second")
    assert '<option value="tiny-second" selected>tiny-second</option>' in page
    evaluation = read(second, bundle.EVALUATION_FILE)
    assert "<dt>Version</dt><dd>tiny-second</dd>" in page
    assert f"{100 * evaluation['accuracy']:.2f}% on {evaluation['images']} held-out test images" in page
    assert len(svg_charts(page)["loss-chart"].findall(".//svg:circle", SVG)) == 2  # one epoch, two lines


def test_two_versions_compared_in_one_table_with_the_difference(client, bundles, versions):
    first, second = (read(path, bundle.METADATA_FILE) for path in bundles)
    first_eval, second_eval = (read(path, bundle.EVALUATION_FILE) for path in bundles)
    page = page_of(client, "?version=tiny-first&compare=tiny-second")
    table = page[page.index('id="comparison"') : page.index("</table>", page.index('id="comparison"'))]
    assert '<th scope="col">tiny-first</th><th scope="col">tiny-second</th>' in table

    def row(label, a, b, difference):
        return f'<th scope="row">{label}</th><td>{a}</td><td>{b}</td><td>{difference}</td>'

    accuracy = (first_eval["accuracy"], second_eval["accuracy"])
    assert (
        row(
            "Test accuracy",
            f"{100 * accuracy[0]:.2f}%",
            f"{100 * accuracy[1]:.2f}%",
            f"{100 * (accuracy[1] - accuracy[0]):+.2f} points",
        )
        in table
    )
    parameters = (first["parameters"], second["parameters"])
    assert row("Parameters", f"{parameters[0]:,}", f"{parameters[1]:,}", f"{parameters[1] - parameters[0]:+,}") in table
    assert row("Epochs", 2, 1, "-1") in table
    temperatures = (first["calibration"]["temperature"], second["calibration"]["temperature"])
    assert f"<td>{temperatures[0]:.3f}</td><td>{temperatures[1]:.3f}</td>" in table
    f1 = (first_eval["per_class"][3]["f1"], second_eval["per_class"][3]["f1"])
    assert row("F1: cat", f"{100 * f1[0]:.1f}%", f"{100 * f1[1]:.1f}%", f"{100 * (f1[1] - f1[0]):+.1f} points") in table


@pytest.mark.parametrize("query", ["?version=nonesuch", "?compare=nonesuch", "?version=tiny-first&compare=x"])
def test_an_unknown_version_is_404(client, versions, query):
    assert client.get("/model/" + query).status_code == 404


def test_an_example_image_of_a_confused_pair_is_served(client, served):
    evaluation = read(served, bundle.EVALUATION_FILE)
    example = evaluation["confused_pairs"][0]["examples"][0]
    file_name = example.split("/")[-1]
    page = page_of(client)
    assert f'<img src="/model/examples/active/{file_name}"' in page
    response = client.get(f"/model/examples/active/{file_name}")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert "public" in response["Cache-Control"]
    assert b"".join(response.streaming_content) == (served / example).read_bytes()


def test_an_example_image_by_version_name(client, bundles, versions):
    example = read(bundles[1], bundle.EVALUATION_FILE)["confused_pairs"][0]["examples"][0]
    page = page_of(client, "?version=tiny-second")
    assert f'src="/model/examples/tiny-second/{example.split("/")[-1]}"' in page
    assert client.get(f"/model/examples/tiny-second/{example.split('/')[-1]}").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/model/examples/active/../metadata.json",
        "/model/examples/active/..%2Fmetadata.json",
        "/model/examples/active/%2E%2E%2Fhistory.json",
        "/model/examples/active/..",
        "/model/examples/active/metadata.json",
        "/model/examples/active/..png",
        "/model/examples/active/no-such-image.png",
        "/model/examples/nonesuch/cat-as-dog-0.png",
    ],
)
def test_anything_but_a_plain_example_file_name_is_404(client, served, path):
    assert client.get(path).status_code == 404


PHOTO_SCORES = {
    "folder": "var/real-photos",
    "tta": "none",
    "in_class_photos": 25,
    "accuracy": 0.92,
    "per_class": [
        {"class": "bird", "photos": 12, "correct": 10, "accuracy": 10 / 12, "flagged_none": 1},
        {"class": "ship", "photos": 13, "correct": 13, "accuracy": 1.0, "flagged_none": 0},
    ],
    "mistakes": [{"class": "bird", "predicted": "airplane", "confidence": 0.6}] * 2,
    "in_class_flagged_none_rate": 0.04,
    "other_photos": 8,
    "other_flagged_none_rate": 0.75,
    "unreadable": [],
    "evaluated_at": "2026-12-03T10:00:00+00:00",
}


def test_the_real_photo_scores_a_bundle_keeps_are_on_the_page(client, settings, served, tmp_path):
    scored = shutil.copytree(served, tmp_path / "scored")
    bundle.write_json(scored, "photos.json", PHOTO_SCORES)
    settings.MODEL_DIR = scored
    page = page_of(client)
    section = page[page.index('id="real-photos"') : page.index("</section>", page.index('id="real-photos"'))]
    assert "92.0% of 25 answered correctly; 4.0% of them wrongly called" in section
    assert "75.0% of 8 rightly called" in section
    assert '<th scope="row">bird</th><td class="number">10</td><td class="number">12</td>' in section
    assert "a photo of class “bird” answered “airplane”" in section


def test_a_bundle_without_real_photo_scores_says_how_to_get_them(client, served):
    page = page_of(client)
    assert "This model has not been scored on real photos" in page
    assert "manage.py evaluate --data FOLDER --save" in page


def test_two_versions_compare_their_real_photo_accuracy(client, bundles, versions, tmp_path):
    bundle.write_json(bundles[1], "photos.json", PHOTO_SCORES)
    try:
        page = page_of(client, "?version=tiny-first&compare=tiny-second")
    finally:
        (bundles[1] / "photos.json").unlink()
    table = page[page.index('id="comparison"') : page.index("</table>", page.index('id="comparison"'))]
    assert '<th scope="row">Real photos: accuracy</th><td>not available</td><td>92.00%</td><td></td>' in table
