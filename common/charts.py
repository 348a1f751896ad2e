"""Plotly figures for server-rendered pages: built here, drawn by static/js/charts.js with
the plotly.js that ships in the plotly package (no CDN)."""

import json

import plotly.graph_objects as go

FONT = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif"


def figure(traces: list[dict], **layout) -> dict:
    """A validated figure as plain JSON data, with the console's fonts and margins."""
    fig = go.Figure(data=traces)
    fig.update_layout(
        font={"family": FONT, "size": 12},
        margin={"l": 48, "r": 16, "t": 16, "b": 40},
        legend={"orientation": "h", "y": -0.15},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    if "yaxis_title" in layout:
        fig.update_yaxes(title_text=layout.pop("yaxis_title"), gridcolor="#e9ecef")
    fig.update_layout(**layout)
    return json.loads(fig.to_json())
