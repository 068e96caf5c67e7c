"""Writes the two small generated CSV files of the keras.io translations weather.yaml and
fraud.yaml (seeded: running it again writes the same bytes). No download: the real Jena climate
and credit-card fraud data sets are large; these keep their shape and their difficulty's kind.

- weather.csv: 2,400 hourly rows of 7 weather-like readings (the keras.io example's feature
  columns: pressure, temperature, saturation vapour pressure, vapour pressure deficit, specific
  humidity, air density, wind speed) with daily and slow cycles and noise, physically linked
  (temperature drives the vapour pressures and the density).
- fraud.csv: 2,000 card transactions, 9 anonymised components V1..V9 and Amount, with 30 frauds
  (1.5%) whose components are shifted: an imbalanced binary problem like the keras.io one's.
- pets/images, pets/masks: 32 image/mask pairs for unet.yaml, 16x16, as the Oxford pets files
  are paired: pet_07.jpg with pet_07.png, the mask a trimap of classes 1, 2 and 3 (a blob, its
  outline, the background), the image coloured by class with noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def weather(rows: int = 2400, seed: int = 23) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    day = np.sin(2 * np.pi * t / 24)
    slow = np.sin(2 * np.pi * t / (24 * 30))
    noise = np.cumsum(rng.normal(0, 0.15, rows))  # weather drifts
    T = 9 + 6 * day + 5 * slow + noise + rng.normal(0, 0.3, rows)
    p = 990 + 6 * slow - 0.4 * noise + rng.normal(0, 0.8, rows)
    vpmax = 6.1078 * np.exp(17.27 * T / (T + 237.3))
    rh = np.clip(75 - 15 * day + rng.normal(0, 5, rows), 20, 100)
    vpdef = vpmax * (1 - rh / 100)
    sh = 622 * (vpmax - vpdef) / p
    rho = p * 100 / (287.05 * (T + 273.15))
    wv = np.abs(2 + 1.5 * np.sin(2 * np.pi * t / 57) + rng.normal(0, 0.7, rows))
    header = "p (mbar),T (degC),VPmax (mbar),VPdef (mbar),sh (g/kg),rho (g/m**3),wv (m/s)"
    table = np.stack([p, T, vpmax, vpdef, sh, rho * 1000, wv], axis=1)
    np.savetxt(HERE / "weather.csv", table, fmt="%.2f", delimiter=",", header=header, comments="")


def fraud(rows: int = 2000, frauds: int = 30, seed: int = 23) -> None:
    rng = np.random.default_rng(seed)
    label = np.zeros(rows, dtype=int)
    label[rng.choice(rows, frauds, replace=False)] = 1
    v = rng.normal(0, 1, (rows, 9))
    v[label == 1] += rng.normal([-2.5, 1.8, -3.0, 2.2, -1.0, -0.8, -2.6, 0.6, -1.4], 0.8, (frauds, 9))
    amount = np.round(np.exp(rng.normal(3.5, 1.2, rows)) * np.where(label == 1, 0.6, 1.0), 2)
    header = ",".join([f"V{i}" for i in range(1, 10)] + ["Amount", "Class"])
    with open(HERE / "fraud.csv", "w") as f:
        f.write(header + "\n")
        for i in range(rows):
            f.write(",".join(f"{x:.3f}" for x in v[i]) + f",{amount[i]:.2f},{label[i]}\n")


def pets(pairs: int = 32, size: int = 16, seed: int = 23) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for sub in ("images", "masks"):
        (HERE / "pets" / sub).mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    colours = np.array([[200, 80, 40], [250, 230, 120], [40, 90, 160]], dtype=np.float64)
    for i in range(pairs):
        cy, cx, r = rng.uniform(4, size - 4), rng.uniform(4, size - 4), rng.uniform(2.5, 5)
        d = np.hypot(yy - cy, xx - cx)
        trimap = np.where(d < r, 1, np.where(d < r + 1.5, 2, 3)).astype(np.uint8)
        image = colours[trimap - 1] + rng.normal(0, 25, (size, size, 3))
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(HERE / "pets" / "images" / f"pet_{i:02d}.jpg", quality=90)
        Image.fromarray(trimap, mode="L").save(HERE / "pets" / "masks" / f"pet_{i:02d}.png")


if __name__ == "__main__":
    weather()
    fraud()
    pets()
