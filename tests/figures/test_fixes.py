"""The report's figures on constructed inputs where a figure used to mislead: maps aliased or
too tall, legends cut off, titles that are false for the run, axes that hide the points,
empty or flat panels, a panel repeating another, scales dominated by one moment."""

import io

import numpy as np
from PIL import Image

import grokscan.figures as F
from grokscan.figures._style import DPI
from grokscan.figures.maps import residue_pixels
from grokscan.reporting.maps import MAX_ROWS, shown_neurons


def png(fig) -> np.ndarray:
    """The figure as the report writes it: (H, W, 3) pixels at DPI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return np.asarray(Image.open(buf).convert("RGB")).astype(int)


def inside_figure(fig, artist) -> bool:
    """Whether an artist's box lies within the figure's (a legend that is not cut off)."""
    fig.canvas.draw()
    box, page = artist.get_window_extent(fig.canvas.get_renderer()), fig.bbox
    return (box.x0 >= page.x0 - 0.5 and box.x1 <= page.x1 + 0.5 and box.y0 >= page.y0 - 0.5
            and box.y1 <= page.y1 + 0.5)


# --- neuron maps ------------------------------------------------------------------------------

def test_each_residue_of_a_map_is_one_block_of_pixels():
    """A wave at k = 48 of P = 97 (a wavelength of about 2 residues): each residue a whole
    square of pixels, so the checkerboard is drawn as it is, not as a beat of resampling."""
    n = 97
    a = np.arange(n)
    wave = np.cos(2 * np.pi * 48 * (a[:, None] + a[None, :]) / n)
    fig = F.grid_maps(np.stack([np.stack([wave, -wave])]), rows=["neuron 0, k = 48"],
                      moments=["memorisation, step 20", "end, step 2000"])
    im = png(fig)
    s = residue_pixels(n)
    box = fig.axes[0].get_window_extent()
    assert round(box.width, 6) == round(box.height, 6) == n * s
    top, left = im.shape[0] - int(round(box.y1)), int(round(box.x0))
    blocks = im[top:top + n * s, left:left + n * s].reshape(n, s, n, s, 3)
    inner = blocks[1:-1, :, 1:-1]  # the frame of the axes is drawn over the outer blocks
    assert (inner == inner[:, :1, :, :1]).all()  # every block one colour
    colour, value = inner[:, 0, :, 0], wave[1:-1, 1:-1]  # the block of residue (a, b)
    clear = np.abs(value) > 0.3
    red = colour[..., 0] > colour[..., 2]  # vlag: red above 0, blue below
    assert (red[clear] == (value[clear] > 0)).all()


def test_the_neuron_maps_show_a_few_rows_the_best_explained_of_each_frequency():
    """Twelve neurons picked over six frequencies (the demo drew all twelve, 3666 px tall):
    at most MAX_ROWS rows, the best explained neuron of the best explained frequencies."""
    freq = np.repeat([5, 9, 14, 26, 30, 44], 2)
    share = np.array([0.9, 0.95, 0.5, 0.4, 0.8, 0.7, 0.99, 0.6, 0.3, 0.2, 0.85, 0.1])
    rows = shown_neurons(freq, share)
    assert rows.tolist() == [1, 4, 6, 10]  # k = 5, 14, 26, 44 (k = 9 and 30 explain less)
    assert len(rows) == MAX_ROWS
    acts = np.random.default_rng(0).standard_normal((len(rows), 2, 97, 97))
    fig = F.grid_maps(acts, rows=[f"neuron {r}" for r in rows], moments=["mem", "end"],
                      title="4 of the 12 neurons picked")
    height, width = png(fig).shape[:2]
    assert height < 1300 and width < 1000  # shown 1:1 in the page's column, no rescaling
    assert fig._suptitle.get_text() == "4 of the 12 neurons picked"
