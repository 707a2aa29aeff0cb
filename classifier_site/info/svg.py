"""The frame of the Model data page's SVG charts: a plot area with its axes and legend, and round tick values.

The Content-Security-Policy forbids inline styles and scripts, so charts carry presentation attributes only
(fill, stroke, font-size). They are built with ElementTree, which escapes every text and attribute value.
"""

import math
import xml.etree.ElementTree as ET

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 520, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 34, 46  # margins around the plot area, room for labels and the legend
INK, MUTED, GRID = "#1d2433", "#5b6476", "#e3e7ef"
TRAIN_COLOUR, VALIDATION_COLOUR, GAP_COLOUR = "#2f6fde", "#d9822b", "#c0392b"


class Plot:
    """Maps data coordinates onto the plot area of one chart and draws its frame."""

    def __init__(self, chart_id: str, title: str, description: str, x_range, y_range):
        self.x_low, self.x_high = x_range
        self.y_low, self.y_high = y_range
        self.svg = ET.Element(
            "svg",
            {
                "xmlns": "http://www.w3.org/2000/svg",
                "class": "chart",
                "id": chart_id,
                "viewBox": f"0 0 {WIDTH} {HEIGHT}",
                "role": "img",
                "aria-labelledby": f"{chart_id}-title {chart_id}-desc",
            },
        )
        ET.SubElement(self.svg, "title", {"id": f"{chart_id}-title"}).text = title
        ET.SubElement(self.svg, "desc", {"id": f"{chart_id}-desc"}).text = description

    def x(self, value: float) -> float:
        share = (value - self.x_low) / (self.x_high - self.x_low)
        return round(LEFT + share * (WIDTH - LEFT - RIGHT), 2)

    def y(self, value: float) -> float:
        share = (value - self.y_low) / (self.y_high - self.y_low)
        return round(HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM), 2)

    def axes(self, *, x_ticks, y_ticks, x_label: str, y_label: str, x_format=str, y_format=str):
        axes = ET.SubElement(self.svg, "g", {"class": "axes", "font-size": "12", "fill": MUTED})
        for value in y_ticks:
            y = self.y(value)
            draw_line(axes, LEFT, y, WIDTH - RIGHT, y, GRID)
            draw_text(axes, LEFT - 6, y + 4, y_format(value), anchor="end")
        for value in x_ticks:
            x = self.x(value)
            draw_line(axes, x, HEIGHT - BOTTOM, x, HEIGHT - BOTTOM + 5, MUTED)
            draw_text(axes, x, HEIGHT - BOTTOM + 18, x_format(value), anchor="middle")
        draw_line(axes, LEFT, TOP, LEFT, HEIGHT - BOTTOM, MUTED)
        draw_line(axes, LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, HEIGHT - BOTTOM, MUTED)
        draw_text(axes, (LEFT + WIDTH - RIGHT) / 2, HEIGHT - 8, x_label, anchor="middle", fill=INK)
        middle = (TOP + HEIGHT - BOTTOM) / 2
        label = draw_text(axes, 14, middle, y_label, anchor="middle", fill=INK)
        label.set("transform", f"rotate(-90 14 {middle})")

    def legend(self, entries):
        """entries: (label, colour, dashed, marker) with marker "line" or "bar"."""
        legend = ET.SubElement(self.svg, "g", {"class": "legend", "font-size": "12", "fill": INK})
        x = LEFT
        for label, colour, dashed, marker in entries:
            if marker == "bar":
                ET.SubElement(legend, "rect", {"x": str(x), "y": "8", "width": "18", "height": "12", "fill": colour})
            else:
                draw_line(legend, x, 14, x + 18, 14, colour, width=2, dashed=dashed)
            draw_text(legend, x + 24, 18, label)
            x += 24 + 7 * len(label) + 14

    def render(self) -> SafeString:
        # Safe: ElementTree escaped every text and attribute it wrote.
        return mark_safe(ET.tostring(self.svg, encoding="unicode"))


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) from `low` (or the step below it) up to at
    least `high`."""
    raw_step = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(factor * magnitude for factor in (1, 2, 5, 10) if factor * magnitude >= raw_step)
    ticks = [round(math.floor(low / step + 1e-9) * step, 10)]
    while ticks[-1] < high - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def integer_ticks(first: int, last: int, count: int = 10) -> list[int]:
    step = max(1, math.ceil((last - first) / count))
    return list(range(first, last + 1, step))


def draw_line(parent, x1, y1, x2, y2, colour, width=1, dashed=False):
    attributes = {"x1": str(x1), "y1": str(y1), "x2": str(x2), "y2": str(y2), "stroke": colour}
    attributes["stroke-width"] = str(width)
    if dashed:
        attributes["stroke-dasharray"] = "6 4"
    return ET.SubElement(parent, "line", attributes)


def draw_text(parent, x, y, text, *, anchor="start", fill=None):
    attributes = {"x": str(round(x, 2)), "y": str(round(y, 2)), "text-anchor": anchor}
    if fill:
        attributes["fill"] = fill
    element = ET.SubElement(parent, "text", attributes)
    element.text = text
    return element
