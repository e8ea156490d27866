"""Blender's own command-line renders with the live 'NST Style' node, as a studio's render farm
runs them: Debian's real `blender` (4.3, in the chroot of chroot.py), the extension installed
and enabled from the command line (`blender --command extension install-file --enable`), a shot
saved after Apply Styles, then `blender -b shot.blend -a`, and two workers started together on
one saved file, each rendering a chunk of the frames (`-s/-e`), as Flamenco or Deadline would.
Skipped, with the reason, where the chroot cannot be made."""

from __future__ import annotations

import importlib.util
import json
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "scripts"))
import chroot  # noqa: E402
from test_flamenco import blender_command, compile_job  # noqa: E402

CUBE_FRAMES, SEAM_FRAMES, SKY_FRAMES = 6, 24, 8
HALF, WARM_UP, PAN_WARM_UP = SEAM_FRAMES // 2, 2, 8
STILL = 2 / 255            # a pixel whose plain render changes less than this is still


def _frames(folder: Path, count: int) -> list[np.ndarray | None]:
    out = []
    for f in range(1, count + 1):
        path = folder / f"frame_{f:04d}.png"
        out.append(np.asarray(Image.open(path).convert("RGB"), np.float32) / 255
                   if path.is_file() else None)
    return out


@pytest.fixture(scope="session")
def farm(tmp_path_factory):
    style = DATA / "style" / "vangogh_starry_night.jpg"
    if not style.is_file():
        pytest.skip(f"{style} not available")
    root = chroot.ensure_or_skip("Debian Blender")
    work = tmp_path_factory.mktemp("farm")
    for folder in ("home", "cube", "seam", "sky", "pan"):
        (work / folder).mkdir()
    zip_path = chroot.extension_zip(work)
    shutil.copy2(style, work / "style.jpg")
    shutil.copy2(HERE / "farm_shot.py", work / "farm_shot.py")
    shutil.copy2(HERE / "decode_video.py", work / "decode_video.py")
    muted = ("[setattr(n, 'mute', True) for n in bpy.context.scene.node_tree.nodes "
             "if n.type == 'GROUP']")
    mute = "import bpy; " + muted
    missing = "import bpy; bpy.context.scene.nst.slots[0].style_path = '/nst/gone.jpg'"
    alone = "import bpy; bpy.context.scene.nst.temporal_coherence = 0.0"
    video = ("import bpy; r = bpy.context.scene.render; r.image_settings.file_format = 'FFMPEG'; "
             "r.ffmpeg.format, r.ffmpeg.codec = 'MKV', 'FFV1'")     # lossless: frames compared
    stamp = ("import bpy; r = bpy.context.scene.render; r.use_stamp = True; "    # the .blend's
             "[setattr(r, k, k in ('use_stamp_filename', 'use_stamp_note', 'use_stamp_frame')) "
             "for k in dir(r) if k.startswith('use_stamp_')]; "    # name, a note and the frame
             "r.stamp_note_text, r.stamp_font_size = 'NST farm', 16")    # (the same each render)
    multilayer = ("import bpy; s = bpy.context.scene; s.view_layers[0].use_pass_z = True; "
                  "s.render.image_settings.file_format = 'OPEN_EXR_MULTILAYER'")
    coherent = "import bpy; bpy.context.scene.nst.temporal_coherence = 1.0"
    blurred = (coherent + "; r = bpy.context.scene.render; r.use_motion_blur = True; "
               "r.motion_blur_shutter = 1.0")
    fixed = ("import bl_ext.user_default.neural_style_transfer.cameras as c; "   # no camera known:
             "c.known = lambda *a: None")                       # the sky as Cycles' vectors say
    b = "blender -b"
    # the Flamenco job type's tasks, run as its workers would: the chunks at once, then the seams
    def job(shot: str, warm_up: int, log: str, between: str = "true") -> str:
        tasks = compile_job({"frames": f"1-{SEAM_FRAMES}", "chunk_size": HALF,
                             "warmup_frames": warm_up, "shot_start": 1,
                             "render_output_path": f"/nst/{shot}/flamenco/frame_####",
                             "make_video": False, "blendfile": f"/nst/{shot}/shot.blend",
                             "fps": 24.0, "format": "PNG", "image_file_extension": ".png"})["tasks"]
        run = lambda kind: " & ".join(      # noqa: E731
            f"{shlex.join(blender_command(t))} > /nst/{log}{i}.log 2>&1"
            for i, t in enumerate(tasks) if t["name"].startswith(kind))
        return f"({run('render-')}; wait) && {between} && ({run('seam-')}; wait)"
    command = " && ".join([
        "export HOME=/nst/home",
        f"blender --command extension install-file -r user_default --enable /nst/{zip_path.name}",
        f"{b} --python /nst/farm_shot.py -- {CUBE_FRAMES} 0 cube /nst/cube/shot.blend",
        f"{b} /nst/cube/shot.blend -a > /nst/cube.log 2>&1",
        f'{b} /nst/cube/shot.blend --python-expr "{mute}" -o //plain/frame_ -a > /dev/null 2>&1',
        f'{b} /nst/cube/shot.blend --python-expr "{video}" -o //video/shot_ -a > /nst/video.log 2>&1',
        f'{b} /nst/cube/shot.blend --python-expr "{stamp}" -o //stamped/frame_ -a > /dev/null 2>&1',
        f'{b} /nst/cube/shot.blend --python-expr "{stamp}; {muted}" '
        "-o //stamped_plain/frame_ -a > /dev/null 2>&1",
        f'{b} /nst/cube/shot.blend --python-expr "{multilayer}" -o //multilayer/frame_ -a '
        "> /nst/multilayer.log 2>&1",
        f'{b} /nst/cube/shot.blend --python-expr "{multilayer}; {muted}" '
        "-o //multilayer_plain/frame_ -a > /dev/null 2>&1",
        # Motion Blur with Temporal Coherence: rendered sharp, blurred after the style
        f'{b} /nst/cube/shot.blend --python-expr "{coherent}" -o //coherent/frame_ -a > /dev/null 2>&1',
        f'{b} /nst/cube/shot.blend --python-expr "{blurred}" -o //blurred/frame_ -a '
        "> /nst/blurred.log 2>&1",
        f'{b} /nst/cube/shot.blend --python-expr "{blurred}; {muted}" '
        "-o //plain_blurred/frame_ -a > /dev/null 2>&1",
        f"{b} --python /nst/decode_video.py -- /nst/cube/video/shot_0001-{CUBE_FRAMES:04d}.mkv "
        f"{CUBE_FRAMES} /nst/cube/decoded/frame_ > /dev/null 2>&1",
        # the style image gone before the render: plain frames, and the process says it failed
        f'({b} /nst/cube/shot.blend --python-expr "{missing}" -o //broken/frame_ -a '
        "> /nst/broken.log 2>&1; echo $? > /nst/broken.rc)",
        f"{b} --python /nst/farm_shot.py -- {SKY_FRAMES} 1 sky /nst/sky/shot.blend",
        f"{b} /nst/sky/shot.blend -a > /nst/sky.log 2>&1",
        f'{b} /nst/sky/shot.blend --python-expr "{alone}" -o //alone/frame_ -a > /dev/null 2>&1',
        f'{b} /nst/sky/shot.blend --python-expr "{fixed}" -o //fixed/frame_ -a > /dev/null 2>&1',
        f'{b} /nst/sky/shot.blend --python-expr "{blurred}" -o //blurred/frame_ -a > /dev/null 2>&1',
        f"{b} --python /nst/farm_shot.py -- {SEAM_FRAMES} 1 none /nst/seam/shot.blend",
        f"{b} /nst/seam/shot.blend -a > /nst/seam.log 2>&1",
        f'{b} /nst/seam/shot.blend --python-expr "{mute}" -o //plain/frame_ -a > /dev/null 2>&1',
        # workers at once on one saved file, a chunk each; the third renders the second chunk
        # after the shot's first frame and WARM_UP frames of warm-up into a scratch folder, in the
        # same process (as the Flamenco job type did until 2026-12-05; its tasks now warm up on
        # the WARM_UP frames alone)
        f"({b} /nst/seam/shot.blend -o //chunks/frame_ -s 1 -e {HALF} -a > /nst/w1.log 2>&1 & "
        f"{b} /nst/seam/shot.blend -o //chunks/frame_ -s {HALF + 1} -e {SEAM_FRAMES} -a "
        "> /nst/w2.log 2>&1 & "
        f"{b} /nst/seam/shot.blend -o //warmup/frame_ -s 1 -e 1 -a -s {HALF + 1 - WARM_UP} -e {HALF} -a "
        f"-o //warm/frame_ -s {HALF + 1} -e {SEAM_FRAMES} -a > /nst/w3.log 2>&1; wait)",
        job("seam", WARM_UP, "flamenco"),
        # a turning camera (no clean plate): the job type's chunks with its warm-up for such a
        # shot, the frames kept as they were before the seam was dissolved, for comparison
        f"{b} --python /nst/farm_shot.py -- {SEAM_FRAMES} 1 sky /nst/pan/shot.blend",
        job("pan", PAN_WARM_UP, "pan", between="cp -r /nst/pan/flamenco /nst/pan/cut"),
    ])
    r = chroot.run(root, work, command, timeout=900)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    logs = {name: (work / f"{name}.log").read_text(errors="replace")
            for name in ("cube", "video", "multilayer", "blurred", "seam", "w1", "w2", "w3", "flamenco0", "flamenco1", "broken",
                         "sky", "pan0", "pan1", "pan2")}
    logs["broken_rc"] = (work / "broken.rc").read_text().strip()
    return work, logs


def _changed(a, b):
    return np.abs(a - b).max(-1) > 4 / 255


def test_blender_b_a_writes_each_frames_own_stylization(farm):
    """Masked to the moving cube: every frame differs from the plain render where the cube is,
    the changed region moves with the cube, and no two frames are the same picture."""
    work, logs = farm
    live, plain = _frames(work / "cube" / "frames", CUBE_FRAMES), _frames(work / "cube" / "plain", CUBE_FRAMES)
    assert all(x is not None for x in live + plain), logs["cube"][-2000:]
    assert f"stylized {CUBE_FRAMES} frame(s)" in logs["cube"], logs["cube"][-2000:]
    centres, shares = [], []
    for a, b in zip(live, plain):
        changed = _changed(a, b)
        shares.append(float(changed.mean()))
        centres.append(float(np.nonzero(changed)[1].mean()))
    assert all(0.03 < s < 0.5 for s in shares), shares          # a cube, not the whole frame
    assert all(x < y for x, y in zip(centres, centres[1:])), centres     # it follows the cube
    assert not any(np.array_equal(live[0], x) for x in live[1:])


def test_blender_b_a_with_motion_blur_blurs_each_stylized_frame(farm):
    """Motion Blur on (shutter 1 frame) and Temporal Coherence 1, the slot masked to the cube:
    the render says the blur is made after the style (Blender renders no vectors with its own),
    and each frame is the coherent frame blurred along the cube's way: changed there over about
    as many columns as Blender's own blur changes the plain render, the same elsewhere."""
    work, logs = farm
    got = {name: _frames(work / "cube" / name, CUBE_FRAMES)
           for name in ("coherent", "blurred", "plain", "plain_blurred")}
    assert all(x is not None for frames in got.values() for x in frames), logs["blurred"][-2000:]
    assert "Motion Blur is made after the style" in logs["blurred"], logs["blurred"][-2000:]
    assert f"stylized {CUBE_FRAMES} frame(s)" in logs["blurred"], logs["blurred"][-2000:]
    columns, far = [], []
    for c, b, p, pb in list(zip(*got.values()))[1:-1]:     # (the ends: the keys ease)
        ours, blenders = _changed(c, b), _changed(p, pb)
        columns.append((int(ours.any(0).sum()), int(blenders.any(0).sum())))
        rows, cols = (np.flatnonzero(blenders.any(axis)) for axis in (1, 0))
        way = np.zeros_like(blenders)       # the box around Blender's blur and 4 px around it
        way[max(rows[0] - 4, 0):rows[-1] + 5, max(cols[0] - 4, 0):cols[-1] + 5] = True
        far.append(float(np.abs(c - b).max(-1)[~way].max()))
    assert all(0.6 * theirs <= mine <= 1.5 * theirs for mine, theirs in columns), columns
    assert max(far) <= 4 / 255, far


def test_blender_b_a_to_multilayer_openexr_stylizes_its_composite_and_keeps_its_passes(farm):
    """A multilayer OpenEXR output (Debian's 4.3 writes every pass into one part): each frame's
    composite is stylized where the PNG frames are (the cube), and its passes (Combined, Depth)
    are the plain render's, and no others (not the Object Index turned on for the mask)."""
    work, logs = farm
    spec = importlib.util.spec_from_file_location("nst_exr", ROOT / "addon" / "exr.py")
    exr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(exr)
    live, plain = _frames(work / "cube" / "frames", CUBE_FRAMES), _frames(work / "cube" / "plain", CUBE_FRAMES)
    folder = work / "cube"
    assert f"stylized {CUBE_FRAMES} frame(s)" in logs["multilayer"], logs["multilayer"][-2000:]
    for f, (png, png_plain) in enumerate(zip(live, plain), 1):
        files = [folder / kind / f"frame_{f:04d}.exr" for kind in ("multilayer", "multilayer_plain")]
        composite, composite_plain = (exr.read(path) for path in files)
        changed, png_changed = np.abs(composite - composite_plain).max(-1) > 0.005, _changed(png, png_plain)
        assert (changed & png_changed).sum() >= 0.9 * (changed | png_changed).sum() > 0, f
        for layer, channels in (("ViewLayer.Combined", "RGBA"), ("ViewLayer.Depth", "Z")):
            assert np.array_equal(*(exr.read(path, layer, channels) for path in files)), (f, layer)
        names = [exr.channel_names(path) for path in files]
        assert names[0] == names[1] and not any("Index" in n for n in names[0]), names


def test_blender_b_a_carries_blenders_stamp_into_the_stylized_frames(farm):
    """Burn Into Image on (the file's name, a note, the frame; Debian's 4.3, `blender -b -a`):
    away from the stylized cube each frame is Blender's own stamped plain frame of that frame
    (its number too), to the level; over the cube the stamp changes the painting, which in the
    rows it leaves alone is the frame stylized without a stamp. (How exactly the stamp is laid
    over a painting: tests/blender/test_live.py, against Blender's own.)"""
    work, logs = farm
    count = CUBE_FRAMES
    stamped, stamped_plain = (_frames(work / "cube" / k, count)
                              for k in ("stamped", "stamped_plain"))
    live, plain = _frames(work / "cube" / "frames", count), _frames(work / "cube" / "plain", count)
    for s, sp, a, b in zip(stamped, stamped_plain, live, plain):
        painted = _changed(a, b)
        near = painted.copy()
        for axis in (0, 1):
            for shift in (-2, -1, 1, 2):
                near |= np.roll(painted, shift, axis)
        stamp = np.abs(sp - b).max(-1) > 2 / 255
        assert stamp.sum() > 500 and (stamp & painted).sum() > 100, \
            (stamp.sum(), (stamp & painted).sum())      # a stamp, over the cube in part
        off = np.abs(s - sp).max(-1)[~near]
        assert (off > 1.01 / 255).mean() < 0.001 and off.max() < 12 / 255    # (1 pixel seen)
        free = painted & ~stamp.any(1)[:, None]     # rows the stamp leaves alone
        assert free.sum() > 20 and np.abs(s - a).max(-1)[free].max() <= 1.01 / 255
        assert np.abs(s - a).max(-1)[painted & stamp].mean() > 10 / 255


def test_blender_b_a_to_a_video_holds_the_stylized_frames(farm):
    """The same shot rendered by `blender -b shot.blend -a` to an FFmpeg video (FFV1, lossless):
    each of its frames, decoded by Blender, is the stylized frame the PNG render wrote."""
    work, logs = farm
    live = _frames(work / "cube" / "frames", CUBE_FRAMES)
    decoded = _frames(work / "cube" / "decoded", CUBE_FRAMES)
    assert all(x is not None for x in decoded), logs["video"][-2000:]
    assert f"stylized {CUBE_FRAMES} frame(s)" in logs["video"], logs["video"][-2000:]
    off = [float(np.abs(a - b).mean() * 255) for a, b in zip(decoded, live)]
    assert max(off) < 0.5, off


def _turn(views: np.ndarray, shape: tuple[int, int]) -> tuple[list, list]:
    """A turning camera's motion of the sky between consecutive frames (each frame's camera
    ``views``: cameras.py), and where the sky is seen in both frames (looking up)."""
    from nst_core import motion
    h, w = shape
    pixels = np.stack(np.meshgrid(np.arange(w), np.arange(h)) + [np.ones((h, w))], -1)
    up = [(pixels @ v.T)[..., 2] / np.linalg.norm(pixels @ v.T, axis=-1) > 0.01 for v in views]
    turn, sky = [], []
    for t in range(1, len(views)):
        flow = np.zeros((h, w, 2), np.float32)
        motion.background(flow, np.full((h, w), 1e10, np.float32), views[t], None, None,
                          views[t - 1])
        turn.append(flow)
        sky.append(up[t] & up[t - 1])
    return turn, sky


def test_a_turning_cameras_sky_keeps_its_strokes_on_the_sky(farm):
    """Cycles gives the world background no motion vectors. With each frame's camera, worked
    out as `blender -b` opens the file (Debian's 4.3 crashed, exit 139, when the add-on made
    the scene it works a camera out in while a render ran), the strokes of a textured sky
    follow the camera's turn (5.5 px a frame): their warping error along it is under 0.4 of
    each frame painted alone's and of the same render without the cameras, whose strokes stay
    on the screen (measured: 0.15 and 0.10; without the cameras, 1.56 of alone's)."""
    from nst_core import metrics
    work, logs = farm
    coherent = _frames(work / "sky" / "frames", SKY_FRAMES)
    alone = _frames(work / "sky" / "alone", SKY_FRAMES)
    fixed = _frames(work / "sky" / "fixed", SKY_FRAMES)
    assert all(x is not None for x in coherent + alone + fixed), logs["sky"][-2000:]
    assert f"stylized {SKY_FRAMES} frame(s)" in logs["sky"], logs["sky"][-2000:]
    turn, sky = _turn(np.load(work / "sky" / "shot.blend.views.npy"), coherent[0].shape[:2])
    assert 0.3 < sky[0].mean() < 0.8 and 3 < np.median(np.abs(turn[0][..., 0])) < 8
    followed = metrics.warping_error(coherent, turn, sky)
    painted_alone = metrics.warping_error(alone, turn, sky)
    on_the_screen = metrics.warping_error(fixed, turn, sky)
    assert followed < 0.4 * min(painted_alone, on_the_screen), (followed, painted_alone, on_the_screen)


def test_a_turning_cameras_sky_is_motion_blurred_as_it_turns(farm):
    """Motion Blur on (shutter 1 frame) with the camera turning under a textured sky, which
    Cycles gives no motion vectors: the sky is blurred sideways as the cameras' turn says (its
    columns' steps fall against its rows'), not left sharp."""
    work, logs = farm
    coherent = _frames(work / "sky" / "frames", SKY_FRAMES)
    blurred = _frames(work / "sky" / "blurred", SKY_FRAMES)
    assert all(x is not None for x in blurred)
    _, sky = _turn(np.load(work / "sky" / "shot.blend.views.npy"), coherent[0].shape[:2])
    ratios = []
    for t in range(1, SKY_FRAMES - 1):      # (frames with a camera before and after them)
        where = sky[t - 1] & sky[t]
        steps = [(np.abs(np.diff(f.mean(-1), axis=1))[where[:, 1:]].mean(),
                  np.abs(np.diff(f.mean(-1), axis=0))[where[1:]].mean()) for f in (coherent[t], blurred[t])]
        ratios.append((steps[1][0] / steps[1][1]) / (steps[0][0] / steps[0][1]))
    assert max(ratios) <= 0.85, ratios


def test_a_render_the_node_cannot_stylize_is_plain_and_fails(farm):
    """The style image gone: every frame is the plain render (Apply's frame too: before, frame 1
    was Apply's picture and the rest plain), the console says why, and `blender -b` exits with
    status 1, so a farm marks the task failed instead of keeping a silently plain shot."""
    work, logs = farm
    broken = _frames(work / "cube" / "broken", CUBE_FRAMES)
    plain = _frames(work / "cube" / "plain", CUBE_FRAMES)
    assert all(x is not None for x in broken), logs["broken"][-2000:]
    assert max(float(np.abs(a - b).max()) for a, b in zip(broken, plain)) <= 1 / 255
    assert "this render is not stylized" in logs["broken"] and "gone.jpg" in logs["broken"]
    assert logs["broken_rc"] == "1", logs["broken"][-2000:]


def _seam_figures(pairs: list[float], seam: int, overlap: int) -> dict:
    """``pairs[t - 1]``: the change from frame index t - 1 to t. The seam's pairs: into each of
    the ``overlap`` frames the seam task dissolved, and into the later chunk's first frame
    (index ``seam``); the worst of them against the mean of the other pairs."""
    near = range(seam - overlap, seam + 1)
    others = float(np.mean([p for t, p in enumerate(pairs, 1) if t not in near]))
    worst = max(pairs[t - 1] for t in near)
    return {"seam": pairs[seam - 1], "worst": worst, "others_mean": others,
            "ratio": worst / max(others, 1e-6)}


@pytest.fixture(scope="session")
def seam(farm):
    """Frames 1-12 and 13-24 rendered at once by two Blender processes (the issue's layout, and
    the Flamenco job type's default chunk of 12): every frame is there and stylized. The seam
    (frame 13 after 12) is measured in the still region, where the plain render does not change,
    against the other consecutive pairs (docs/farm.md): cold, the second chunk's coherence starts
    from nothing; warmed up (what the Flamenco job type runs), on the shot's first frame and the
    WARM_UP frames before the chunk, in the same process."""
    work, logs = farm
    full = _frames(work / "seam" / "frames", SEAM_FRAMES)
    chunks = _frames(work / "seam" / "chunks", SEAM_FRAMES)
    warm = chunks[:HALF] + _frames(work / "seam" / "warm", SEAM_FRAMES)[HALF:]
    flamenco = _frames(work / "seam" / "flamenco", SEAM_FRAMES)
    assert all(x is not None for x in flamenco), logs["flamenco1"][-1500:]
    plain = _frames(work / "seam" / "plain", SEAM_FRAMES)
    assert all(x is not None for x in chunks + warm), [logs[w][-1500:] for w in ("w1", "w2", "w3")]
    assert all(_changed(a, b).mean() > 0.5 for a, b in zip(chunks + warm, plain + plain))
    seam = HALF                             # index of the second chunk's first frame
    figures = {}
    for name, run, overlap in (("chunks", chunks, 0), ("chunks, warm-up 2", warm, 0),
                               ("one process", full, 0), ("Flamenco job type", flamenco, WARM_UP)):
        pairs = []
        for t in range(1, SEAM_FRAMES):
            still = np.abs(plain[t] - plain[t - 1]).max(-1) < STILL
            pairs.append(float(np.abs(run[t] - run[t - 1])[still].mean() * 255))
        figures[name] = _seam_figures(pairs, seam, overlap)
    print("FARM-SEAM " + json.dumps(figures))
    return figures


def test_two_workers_on_chunks_stylize_every_frame(seam):
    """One process has no seam; the Flamenco job type's tasks (its chunks warmed up on 2
    frames, then the seam task dissolving those 2 frames of the chunk before) neither."""
    assert seam["one process"]["ratio"] <= 1.5, seam
    assert seam["Flamenco job type"]["ratio"] <= 1.5, seam


def test_the_shots_first_frame_adds_nothing_to_a_warm_up(farm):
    """With the shot's clean plate, a chunk warmed up on the WARM_UP frames before it (the
    Flamenco job type's tasks) writes the very frames of one also warmed up on the shot's first
    frame (what the job type rendered first in each chunk until 2026-12-05, when the still set
    was learnt from the frames): the plate's painting is the same from whichever frame."""
    work, _ = farm
    flamenco = _frames(work / "seam" / "flamenco", SEAM_FRAMES)[HALF:]
    warm = _frames(work / "seam" / "warm", SEAM_FRAMES)[HALF:]
    assert all(x is not None for x in flamenco + warm)
    assert all(np.array_equal(a, b) for a, b in zip(flamenco, warm))


def test_a_chunk_has_no_seam(seam):
    """Warmed up or not, the second chunk's still set is the painting the first chunk shows:
    both start it from the shot's clean plate (plates.py), which Apply Styles rendered into the
    .blend, instead of learning it patch by patch from the frames each process saw (then: 2.39x
    warmed up, 4.69x cold)."""
    assert seam["chunks, warm-up 2"]["ratio"] <= 1.5, seam
    assert seam["chunks"]["ratio"] <= 1.5, seam


def test_a_turning_cameras_chunks_meet_where_their_seam_is_dissolved(farm):
    """A shot whose camera turns has no clean plate: two processes paint its every pixel
    differently, and the later chunk's first frame popped however long its warm-up (docs/
    farm.md: 2.85× on an artist trial's pan). The Flamenco job type's tasks for such a shot (2
    chunks of 12, the second warmed up on 8 frames, then the seam task) dissolve the first
    chunk's last 8 frames into the second's painting: the sky's change along the camera's turn
    into each of them and into frame 13 is at most 1.5× the other pairs' mean; the same chunks
    before the seam task ran (kept aside) pop at frame 13 by more."""
    from nst_core import motion
    work, logs = farm
    dissolved = _frames(work / "pan" / "flamenco", SEAM_FRAMES)
    cut = _frames(work / "pan" / "cut", SEAM_FRAMES)
    assert all(x is not None for x in dissolved + cut), [logs[f"pan{i}"][-1500:] for i in range(3)]
    assert "frames 5-12 dissolved into the chunk after them" in logs["pan2"], logs["pan2"][-1500:]
    assert all(np.array_equal(a, b) for a, b in zip(dissolved[HALF:], cut[HALF:]))
    turn, sky = _turn(np.load(work / "pan" / "shot.blend.views.npy"), cut[0].shape[:2])
    figures = {}
    for name, run, overlap in (("cut", cut, 0), ("dissolved", dissolved, PAN_WARM_UP)):
        pairs = []
        for t in range(1, SEAM_FRAMES):
            warped, inside = motion.warp(run[t - 1], turn[t - 1])
            pairs.append(float(np.abs(run[t] - warped)[sky[t - 1] & inside].mean() * 255))
        figures[name] = _seam_figures(pairs, HALF, overlap)
    print("FARM-PAN " + json.dumps(figures))
    assert figures["dissolved"]["ratio"] <= 1.5, figures
    assert figures["cut"]["ratio"] > figures["dissolved"]["ratio"], figures
