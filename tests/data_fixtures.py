"""Hand-built minimal dataset folders in the real layouts (tiny images), for tests/test_data_*.

Each writer returns what it wrote so tests can compare counts and labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CITIES = ("NewYork", "Seattle", "SanFrancisco", "Chicago")


def write_image(path: Path, hw=(16, 16), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=(hw[0], hw[1], 3), dtype=np.uint8)
    Image.fromarray(a).save(path)
    return path


def write_cvusa(root: Path, n_train: int = 4, n_val: int = 3, nested: bool = False) -> dict:
    base = root / "dataset" if nested else root
    ids = {"train": list(range(1, n_train + 1)), "val": list(range(101, 101 + n_val))}
    for split, lst in ids.items():
        lines = []
        for i in lst:
            sat, pano = f"bingmap/19/{i:07d}.jpg", f"streetview/panos/{i:07d}.jpg"
            write_image(base / sat, (16, 16), i)
            write_image(base / pano, (8, 32), i + 1000)
            lines.append(f"{sat},{pano},streetview/annotations/{i:07d}.png")
        (base / "splits").mkdir(parents=True, exist_ok=True)
        (base / "splits" / f"{split}-19zl.csv").write_text("\n".join(lines) + "\n")
    return ids


def pano_id(i: int) -> str:
    return f"id{i:020d}"  # 22 characters like CVACT's panoIds


def write_cvact(root: Path, n: int = 10, missing_test: tuple[int, ...] = (8,)) -> dict:
    """Ids 0-5 ACT_small (train 0-3, val 4-5), 6-9 ACT_test; ids 6 and 7 lie 3 m apart."""
    import scipy.io

    ids = [pano_id(i) for i in range(n)]
    utm = np.stack([np.arange(n) * 100.0, np.zeros(n)], axis=1)
    utm[7] = utm[6] + [3.0, 0.0]
    train, val, test = [0, 1, 2, 3], [4, 5], [6, 7, 8, 9]
    for folder, members in (("ANU_data_small", train + val), ("ANU_data_test", test)):
        for i in members:
            if folder == "ANU_data_test" and i in missing_test:
                continue
            write_image(root / folder / "streetview" / f"{ids[i]}_grdView.jpg", (16, 32), i)
            write_image(
                root / folder / "satview_polish" / f"{ids[i]}_satView_polish.jpg", (16, 16), i
            )

    def col(lst):  # 1-based n x 1, as MATLAB stores index vectors
        return np.asarray(lst, dtype=np.float64).reshape(-1, 1) + 1

    scipy.io.savemat(
        root / "ACT_data.mat",
        {
            "panoIds": np.asarray(ids),
            "utm": utm,
            "trainSet": {"trainNum": float(len(train)), "trainInd": col(train)},
            "valSet": {"valNum": float(len(val)), "valInd": col(val)},
            "valSetAll": {"valNum": float(len(test)), "valInd": col(test)},
        },
    )
    return dict(ids=ids, utm=utm, train=train, val=val, test=test, missing=list(missing_test))


def vigor_tile(city: str, k: int) -> str:
    return f"satellite_{40 + k * 0.001:.6f}_{-73 - CITIES.index(city):.6f}.png"


def vigor_pano(city: str, k: int) -> str:
    return f"pano{CITIES.index(city)}{k:03d},{40 + k * 0.001:.6f},{-73.5:.6f},.jpg"


def write_vigor(root: Path, tree: str = "official", tiles: int = 4, panos: int = 3) -> dict:
    """Per city `tiles` tiles and `panos` train + `panos` test panoramas. Panorama k's
    positive is tile k, semi-positives k+1..k+3 (mod tiles); offsets are negative."""
    for city in CITIES:
        pano_dir = root / city / "panorama" if tree == "official" else root / "ground" / city
        sat_dir = root / city / "satellite" if tree == "official" else root / "satellite" / city
        names = [vigor_tile(city, k) for k in range(tiles)]
        for k, name in enumerate(names):
            write_image(sat_dir / name, (16, 16), k)
        split_dir = root / "splits" / city
        split_dir.mkdir(parents=True, exist_ok=True)
        (split_dir / "satellite_list.txt").write_text("\n".join(names) + "\n")
        for split, start in (("train", 0), ("test", panos)):
            lines = []
            for k in range(start, start + panos):
                pano = vigor_pano(city, k)
                write_image(pano_dir / pano, (8, 16), k)
                fields = [pano]
                for j in range(4):
                    fields += [names[(k + j) % tiles], f"{-1.5 - j:.4f}", f"{-(2.25 + j):.4f}"]
                lines.append(" ".join(fields))
            text = "\n".join(lines) + "\n"
            (split_dir / f"same_area_balanced_{split}.txt").write_text(text)
        # cross-area label file: every panorama of the city
        both = (split_dir / "same_area_balanced_train.txt").read_text()
        both += (split_dir / "same_area_balanced_test.txt").read_text()
        (split_dir / "pano_label_balanced.txt").write_text(both)
    return dict(tiles=tiles, panos=panos)


def write_university(root: Path) -> dict:
    """Train buildings 0001, 0002 (0002's google folder empty); test queries of buildings
    0003, 0004; galleries 0003, 0004 and distractor 0005."""
    for cls in ("0001", "0002"):
        write_image(root / "train/satellite" / cls / f"{cls}.jpg", (16, 16))
        for k in range(1, 4):
            write_image(root / "train/drone" / cls / f"image-{k:02d}.jpeg", (16, 16), k)
        write_image(root / "train/street" / cls / "0.jpg", (16, 16))
    write_image(root / "train/google/0001/0.jpg", (16, 16))
    (root / "train/google/0002").mkdir(parents=True)
    for cls in ("0003", "0004"):
        for k in range(1, 3):
            write_image(root / "test/query_drone" / cls / f"image-{k:02d}.jpeg", (16, 16), k)
        write_image(root / "test/query_satellite" / cls / f"{cls}.jpg", (16, 16))
        write_image(root / "test/query_street" / cls / "0.jpg", (16, 16))
    for cls in ("0003", "0004", "0005"):
        write_image(root / "test/gallery_satellite" / cls / f"{cls}.jpg", (16, 16))
        for k in range(1, 3):
            write_image(root / "test/gallery_drone" / cls / f"image-{k:02d}.jpeg", (16, 16), k)
        write_image(root / "test/gallery_street" / cls / "0.jpg", (16, 16))
    return dict(train=[1, 2], query=[3, 4], gallery=[3, 4, 5])


SUES_LOCATIONS = (8, 9, 121, 123)  # 9, 123 official train; 8, 9 train under "1-120"


def write_sues(root: Path, altitudes=(150, 200), n_drone: int = 2) -> dict:
    for loc in SUES_LOCATIONS:
        write_image(root / "satellite-view" / f"{loc:04d}" / "0.png", (16, 16), loc)
        for h in altitudes:
            for k in range(n_drone):
                write_image(root / "drone_view_512" / f"{loc:04d}" / str(h) / f"{k}.jpg", (16, 16))
    return dict(locations=SUES_LOCATIONS, altitudes=altitudes, n_drone=n_drone)


def write_sues_split_tree(
    root: Path, altitude: int = 150, n_drone: int = 2, train=(9, 123)
) -> None:
    """The official split script's output for SUES_LOCATIONS (train: its training ids)."""
    test = [loc for loc in SUES_LOCATIONS if loc not in train]
    for loc in train:
        write_image(root / f"Training/{altitude}/satellite/{loc:04d}/0.png", (16, 16))
        for k in range(n_drone):
            write_image(root / f"Training/{altitude}/drone/{loc:04d}/{k}.jpg", (16, 16))
    for loc in SUES_LOCATIONS:
        write_image(root / f"Testing/{altitude}/gallery_satellite/{loc:04d}/0.png", (16, 16))
        for k in range(n_drone):
            write_image(root / f"Testing/{altitude}/gallery_drone/{loc:04d}/{k}.jpg", (16, 16))
    for loc in test:
        write_image(root / f"Testing/{altitude}/query_satellite/{loc:04d}/0.png", (16, 16))
        for k in range(n_drone):
            write_image(root / f"Testing/{altitude}/query_drone/{loc:04d}/{k}.jpg", (16, 16))
