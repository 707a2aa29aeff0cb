"""Small SVG charts built on the server: a line chart per metric, a reliability diagram, and the accuracy of a pool
of two experts by their weights (drawn on the frame of `svg.Plot`)."""

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import partial

from django.utils.safestring import SafeString
from django.utils.translation import gettext

from classifier import formats
from classifier_site.info.svg import (
    GAP_COLOUR,
    TRAIN_COLOUR,
    VALIDATION_COLOUR,
    Plot,
    draw_line,
    integer_ticks,
    nice_ticks,
)

whole_percent = partial(formats.percent, digits=0)  # the axes' and tooltips' shares: "40%"


@dataclass(frozen=True)
class Series:
    label: str
    values: list  # one value (or None) per x value
    colour: str
    dashed: bool = False


@dataclass(frozen=True)
class GridPoint:
    x: float  # a weight
    accuracy: float
    label: str  # its tooltip
    chosen: bool = False


def line_chart(
    *,
    chart_id: str,
    title: str,
    x_label: str,
    y_label: str,
    x_values: list,
    series: list[Series],
    y_format=str,
    y_tick_format=None,
) -> SafeString:
    """Lines over x (epochs), one marker per value with its own tooltip; the y axis starts at zero.
    `y_format` writes values in tooltips and the description, `y_tick_format` (default: the same) the axis."""
    drawn = [line for line in series if any(value is not None for value in line.values)]
    highest = max((value for line in drawn for value in line.values if value is not None), default=1.0)
    y_ticks = nice_ticks(0.0, highest or 1.0)
    first, last = x_values[0], x_values[-1]
    x_range = (first, last) if last > first else (first - 1, first + 1)
    description = "; ".join(
        f"{line.label}: " + ", ".join(y_format(value) for value in line.values if value is not None) for line in drawn
    )
    summary = gettext("%(title)s by %(x_label)s. %(description)s") % {
        "title": title,
        "x_label": x_label.lower(),
        "description": description,
    }
    plot = Plot(chart_id, title, summary, x_range, (0.0, y_ticks[-1]))
    plot.axes(
        x_ticks=integer_ticks(first, last),
        y_ticks=y_ticks,
        x_label=x_label,
        y_label=y_label,
        y_format=y_tick_format or y_format,
    )
    for line in drawn:
        group = ET.SubElement(plot.svg, "g", {"class": "series", "data-series": line.label})
        points = [(x, value) for x, value in zip(x_values, line.values, strict=True) if value is not None]
        ET.SubElement(
            group,
            "polyline",
            {
                "points": " ".join(f"{plot.x(x)},{plot.y(value)}" for x, value in points),
                "fill": "none",
                "stroke": line.colour,
                "stroke-width": "2",
                **({"stroke-dasharray": "6 4"} if line.dashed else {}),
            },
        )
        for x, value in points:
            marker = ET.SubElement(
                group,
                "circle",
                {"class": "point", "cx": str(plot.x(x)), "cy": str(plot.y(value)), "r": "3.5", "fill": line.colour},
            )
            ET.SubElement(marker, "title").text = f"{x_label} {x}: {line.label} {y_format(value)}"
    plot.legend([(line.label, line.colour, line.dashed, "line") for line in drawn])
    return plot.render()


def reliability_diagram(*, chart_id: str, title: str, bins: list[dict]) -> SafeString:
    """Accuracy per confidence bin, its gap to the bin's mean confidence, and the diagonal of perfect
    calibration."""
    filled = [row for row in bins if row.get("count")]
    description = "; ".join(_bin_summary(row) for row in filled)
    plot = Plot(chart_id, title, f"{title}. {description}", (0.0, 1.0), (0.0, 1.0))
    ticks = [step / 5 for step in range(6)]
    plot.axes(
        x_ticks=ticks,
        y_ticks=ticks,
        x_label=gettext("Confidence"),
        y_label=gettext("Accuracy"),
        x_format=whole_percent,
        y_format=whole_percent,
    )
    bars = ET.SubElement(plot.svg, "g", {"class": "bins"})
    for row in filled:
        left, right, top = plot.x(row["lower"]), plot.x(row["upper"]), plot.y(row["accuracy"])
        bar = ET.SubElement(
            bars,
            "rect",
            {
                "class": "bin",
                "x": str(left),
                "y": str(top),
                "width": str(round(right - left - 1, 2)),
                "height": str(round(plot.y(0.0) - top, 2)),
                "fill": TRAIN_COLOUR,
                "fill-opacity": "0.75",
            },
        )
        summary = _bin_summary(row)
        ET.SubElement(bar, "title").text = summary
        low, high = sorted((row["accuracy"], row["confidence"]))
        gap = ET.SubElement(
            bars,
            "rect",
            {
                "class": "gap",
                "x": str(left),
                "y": str(plot.y(high)),
                "width": str(round(right - left - 1, 2)),
                "height": str(round(plot.y(low) - plot.y(high), 2)),
                "fill": GAP_COLOUR,
                "fill-opacity": "0.3",
                "stroke": GAP_COLOUR,
            },
        )
        ET.SubElement(gap, "title").text = summary
    draw_line(plot.svg, plot.x(0.0), plot.y(0.0), plot.x(1.0), plot.y(1.0), VALIDATION_COLOUR, width=2, dashed=True)
    plot.legend(
        [
            (gettext("accuracy"), TRAIN_COLOUR, False, "bar"),
            (gettext("gap to confidence"), GAP_COLOUR, False, "bar"),
            (gettext("perfect calibration"), VALIDATION_COLOUR, True, "line"),
        ]
    )
    return plot.render()


def accuracy_by_weight(*, chart_id: str, title: str, x_label: str, points: list[GridPoint], x_format=str) -> SafeString:
    """Accuracy (y, from a round value below the lowest point) at each weight tried (x), one marker per point with
    its own tooltip; the chosen point ringed."""
    points = sorted(points, key=lambda point: point.x)
    accuracies = [point.accuracy for point in points]
    low, high = min(accuracies), max(accuracies)
    y_ticks = nice_ticks(low, high if high > low else low + 0.01, count=4)
    step = y_ticks[1] - y_ticks[0]
    digits = max(0, math.ceil(-math.log10(100 * step) - 1e-9))
    chosen = [point.label for point in points if point.chosen]
    description = "; ".join(point.label for point in points)
    if chosen:
        description += ". " + gettext("Chosen: %(point)s") % {"point": chosen[0]}
    plot = Plot(chart_id, title, description, (points[0].x, points[-1].x), (y_ticks[0], y_ticks[-1]))
    plot.axes(
        x_ticks=[point.x for point in points] if len(points) <= 11 else nice_ticks(points[0].x, points[-1].x),
        y_ticks=y_ticks,
        x_label=x_label,
        y_label=gettext("Accuracy"),
        x_format=x_format,
        y_format=lambda value: formats.percent(value, digits),
    )
    group = ET.SubElement(plot.svg, "g", {"class": "series", "data-series": gettext("accuracy")})
    ET.SubElement(
        group,
        "polyline",
        {
            "points": " ".join(f"{plot.x(point.x)},{plot.y(point.accuracy)}" for point in points),
            "fill": "none",
            "stroke": TRAIN_COLOUR,
            "stroke-width": "2",
        },
    )
    for point in points:
        attributes = {"cx": str(plot.x(point.x)), "cy": str(plot.y(point.accuracy)), "fill": TRAIN_COLOUR}
        if point.chosen:
            attributes |= {"class": "point chosen", "r": "7", "fill-opacity": "0.25", "stroke": GAP_COLOUR}
            attributes["stroke-width"] = "2"
        else:
            attributes |= {"class": "point", "r": "3.5"}
        ET.SubElement(ET.SubElement(group, "circle", attributes), "title").text = point.label
    plot.legend([(gettext("accuracy"), TRAIN_COLOUR, False, "line")])
    return plot.render()


def _bin_summary(row: dict) -> str:
    return gettext(
        "%(count)s images with confidence %(lower)s to %(upper)s: mean confidence %(confidence)s, accuracy %(accuracy)s"
    ) % {
        "count": formats.whole(row["count"]),
        "lower": whole_percent(row["lower"]),
        "upper": whole_percent(row["upper"]),
        "confidence": whole_percent(row["confidence"]),
        "accuracy": whole_percent(row["accuracy"]),
    }
