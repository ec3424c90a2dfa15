"""CVACT-like layout (docs/datasets.md, "CVACT"): Canberra-like towns, full-sphere panoramas.

    ACT_data.mat                    panoIds (N x 22 chars), utm (N x 2, easting/northing m),
                                    trainSet{trainNum, trainInd}, valSet{valNum, valInd},
                                    valSetAll{valNum, valInd}; index vectors 1-based, n x 1
    ANU_data_small/streetview/<panoId>_grdView.jpg          train + val (ACT_small)
    ANU_data_small/satview_polish/<panoId>_satView_polish.jpg
    ANU_data_test/streetview/..., ANU_data_test/satview_polish/...   valSetAll (ACT_test)

`mat['trainSet']['trainInd'][0][0] - 1` (SAFA, DSM) and Sample4Geo's positional
`mat['trainSet'][0][0][1] - 1` both give the training indices: the count field comes
first, the index vector second. (The name of the real file's first field is not known
here; loaders only use the second.) Panoramas are full spheres (H = W / 2, elevation
+90..-90 degrees), so the usual crop of rows [H/4, 3H/4) keeps +-45 degrees, as on the
real 832-row panoramas. Satellite tiles are one zoom level deeper than the CVUSA-like
ones (knob `zoom_shift`; real CVACT is zoom 20, CVUSA zoom 19) and the town's sun stands
in the north (`styles.canberra`): the domain shift a CVUSA-trained model meets here.
ACT_test = the val locations plus as many test-only locations;
its images are in ANU_data_test. The MAT header's creation date is fixed so the file is
byte-identical across runs.
"""

from __future__ import annotations

import io

import numpy as np
import scipy.io

from cvgl_core.profiles import Profile
from cvgl_core.synth.io import Out, capture_pair, encode, random_id, rng_for, split_train
from cvgl_core.synth.knobs import Knobs
from cvgl_core.synth.layouts import cvusa
from cvgl_core.synth.layouts.common import sites_in_towns
from cvgl_core.synth.render import panorama, satellite_tile

STYLE = "canberra"
SITE_M = 100.0  # clearance around a camera site (the tile of zoom_shift 0)
MIN_SEP_M = 40.0
TRAIN_FRAC = 35532 / (35532 + 8884)
UTM_ORIGIN = (690000.0, 6090000.0)  # Canberra, zone 55H: (easting, northing)
TOWN_SPACING_M = 2000.0  # towns sit on a grid of 8 columns in UTM


def _mat_bytes(d: dict) -> bytes:
    buf = io.BytesIO()
    scipy.io.savemat(buf, d, do_compression=False, oned_as="column")
    data = bytearray(buf.getvalue())
    data[:116] = b"MATLAB 5.0 MAT-file, written by cvgl_core.synth".ljust(116)
    return bytes(data)


def write(root, prof: Profile, seed: int, knobs: Knobs) -> dict:
    out = Out(root)
    n_small = prof.num_locations
    train = split_train(n_small, TRAIN_FRAC, rng_for(seed, "cvact", "split"))
    n_val = int((~train).sum())
    n = n_small + n_val  # val locations are in ACT_test too; n_val more are test-only
    id_rng = rng_for(seed, "cvact", "ids")
    ids, utm = [], np.zeros((n, 2))
    W = prof.pano_hw[1]
    sites = sites_in_towns(STYLE, n, seed, "cvact", knobs, SITE_M, MIN_SEP_M, on_road=True)
    # one zoom level deeper than CVUSA-like at zoom_shift 1, as the real CVACT (zoom 20 vs 19):
    # with the southern sun (styles.canberra) the shift that a CVUSA-trained model meets
    tile_m = cvusa.TILE_M / 2**knobs.zoom_shift
    for k, (t, world, pos) in enumerate(sites):
        pid = random_id(id_rng)
        ids.append(pid)
        # world row 0 is north: northing falls with the row
        utm[k] = (
            UTM_ORIGIN[0] + (t % 8) * TOWN_SPACING_M + pos[1] * world.mpp,
            UTM_ORIGIN[1] + (t // 8) * TOWN_SPACING_M - pos[0] * world.mpp,
        )
        cap = capture_pair(seed, "cvact", k, knobs)
        sat = encode(
            satellite_tile(world, pos, round(tile_m / world.mpp), prof.sat_size, *cap["sat"]),
            "jpg",
        )
        grd = encode(panorama(world, pos, (W // 2, W), *cap["ground"], vfov=(90, -90)), "jpg")
        folders = []
        if k < n_small:
            folders.append(("ANU_data_small", "train" if train[k] else "val"))
        if k >= n_small or not train[k]:
            folders.append(("ANU_data_test", "test"))
        for folder, split in folders:
            out.put(f"{folder}/streetview/{pid}_grdView.jpg", grd, f"{split}/ground")
            out.put(f"{folder}/satview_polish/{pid}_satView_polish.jpg", sat, f"{split}/satellite")
    idx = np.arange(1, n + 1)
    train_ind = idx[:n_small][train]
    val_ind = idx[:n_small][~train]
    test_ind = np.concatenate([val_ind, idx[n_small:]])
    mat = {
        "panoIds": np.array(ids),
        "utm": utm,
        "trainSet": {"trainNum": len(train_ind), "trainInd": train_ind[:, None]},
        "valSet": {"valNum": len(val_ind), "valInd": val_ind[:, None]},
        "valSetAll": {"valNum": len(test_ind), "valInd": test_ind[:, None]},
    }
    out.put("ACT_data.mat", _mat_bytes(mat))
    return dict(out.counts)
