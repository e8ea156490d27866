// SPDX-License-Identifier: GPL-3.0-or-later
// Flamenco job type: a shot rendered with the NST Style node (neural style transfer for Blender),
// in chunks of frames, each worker warming its Temporal Coherence up on the frames before its
// chunk, optionally followed by a video of the frames. Install: copy this file into the
// Flamenco Manager's `scripts/` folder and restart the Manager (docs/farm.md).
//
// Every frame Blender renders with the NST Style node in the compositor is that frame stylized
// (the extension stylizes each frame as Blender writes it). Temporal Coherence carries from frame
// to frame within one Blender process; a chunk that starts mid-shot therefore first renders
// `warmup_frames` frames before it into a scratch folder, in the same Blender process, and then
// its own frames. Two processes still paint the shot differently (where the camera moves, the
// whole picture: a chunk's first frame popped 2.3-3.7x the usual change), so once both chunks
// are done a seam task dissolves the earlier chunk's frames where the warm-up overlaps them into
// the later chunk's painting, a little more each frame (`nst.dissolve_seam`, docs/farm.md). A
// shot with a clean plate (a still camera) paints its still set the same in every chunk, and
// needs only a short overlap (2 frames); one without (its camera or a light moves) 8.

const JOB_TYPE = {
    label: "NST Stylized Render",
    description: "Render a shot with its NST Style node, in chunks with coherence warm-up",
    settings: [
        { key: "frames", type: "string", required: true,
          eval: "f'{C.scene.frame_start}-{C.scene.frame_end}'",
          evalInfo: { showLinkButton: true, description: "Scene frame range" },
          description: "Frame range to render, e.g. '1-240' (one contiguous range)" },
        { key: "chunk_size", type: "int32", default: 12, visible: "submission",
          description: "Frames one worker renders in one task" },
        { key: "warmup_frames", type: "int32", default: 2, visible: "submission",
          eval: "8 if C.scene.nst.get('no_plate') else 2",
          evalInfo: { showLinkButton: true, description: "8 where the shot has no clean plate (its camera or a light moves), else 2" },
          description: "Frames each chunk renders before its own, dissolved into the chunk before (the seam); 0: none" },
        { key: "shot_start", type: "int32", eval: "C.scene.frame_start", visible: "hidden",
          description: "First frame of the shot: warm-up never reaches before it" },
        { key: "render_output_path", type: "string", subtype: "file_path", required: true,
          eval: "str(Path(abspath(C.scene.render.filepath)))",
          description: "Where the frames go, with #### for the frame number" },
        { key: "make_video", type: "bool", default: false, visible: "submission",
          description: "Join the frames into a video (ffmpeg) when every chunk is done" },
        { key: "blendfile", type: "string", required: true, visible: "web",
          description: "The .blend to render (saved after Apply Styles)" },
        { key: "fps", type: "float", eval: "C.scene.render.fps / C.scene.render.fps_base", visible: "hidden" },
        { key: "format", type: "string", required: true, eval: "C.scene.render.image_settings.file_format", visible: "web" },
        { key: "image_file_extension", type: "string", required: true, eval: "C.scene.render.file_extension", visible: "hidden" },
    ]
};

function compileJob(job) {
    const settings = job.settings;
    const range = parseRange(settings.frames);
    const chunks = frameChunker(settings.frames, settings.chunk_size).map(parseRange);
    const renderTasks = chunks.map(chunk => authorRenderTask(settings, chunk, range));
    const seamTasks = [];
    for (let i = 1; i < chunks.length; i++) {
        const seam = authorSeamTask(settings, chunks[i], chunks[i - 1], range);
        if (seam) {
            seam.addDependency(renderTasks[i - 1]);
            seam.addDependency(renderTasks[i]);
            seamTasks.push(seam);
        }
    }
    for (const task of renderTasks.concat(seamTasks)) {
        job.addTask(task);
    }
    if (settings.make_video) {
        const video = authorVideoTask(settings);
        for (const task of renderTasks.concat(seamTasks)) {
            video.addDependency(task);
        }
        job.addTask(video);
    }
}

// "5-8" or "5" -> [5, 8]; anything else (several ranges, a step) is refused with its reason.
function parseRange(text) {
    const match = /^\s*(-?\d+)\s*(?:-\s*(-?\d+))?\s*$/.exec(String(text));
    if (!match) {
        throw `frames must be one range like "1-240" (the coherence follows consecutive frames), got "${text}"`;
    }
    const first = parseInt(match[1], 10);
    const last = match[2] === undefined ? first : parseInt(match[2], 10);
    if (last < first) {
        throw `frame range "${text}" is empty`;
    }
    return [first, last];
}

// The frames a chunk renders before its own (its warm-up), [first, last], or null; and where.
function warmUp(settings, chunk, range) {
    const first = chunk[0];
    const shotStart = Math.min(settings.shot_start === undefined ? range[0] : settings.shot_start, first);
    const warmFirst = Math.max(first - Math.max(settings.warmup_frames || 0, 0), shotStart);
    if (warmFirst >= first) {
        return null;
    }
    const scratch = path.join(path.dirname(settings.render_output_path),
                              "_nst_warmup", `chunk_${first}`, "######");
    return { frames: [warmFirst, first - 1], output: scratch };
}

function authorRenderTask(settings, chunk, range) {
    const [first, last] = chunk;
    const warm = warmUp(settings, chunk, range);
    const args = [];
    if (warm) {
        args.push("--render-output", warm.output, "--render-format", settings.format,
                  "--frame-start", String(warm.frames[0]), "--frame-end", String(warm.frames[1]),
                  "--render-anim");
    }
    args.push("--render-output", settings.render_output_path, "--render-format", settings.format,
              "--frame-start", String(first), "--frame-end", String(last), "--render-anim");
    return blenderTask(`render-${first}-${last}`, settings, args);
}

// The chunk before `chunk` rendered the frames of its warm-up too: they are dissolved from that
// chunk's painting into this one's (only those it rendered, so two seams never share a frame).
function authorSeamTask(settings, chunk, before, range) {
    const warm = warmUp(settings, chunk, range);
    if (!warm) {
        return null;
    }
    const first = Math.max(warm.frames[0], before[0]);
    const call = `bpy.ops.nst.dissolve_seam(output=${JSON.stringify(settings.render_output_path)}, ` +
        `overlap=${JSON.stringify(warm.output)}, frame_start=${first}, frame_end=${warm.frames[1]})`;
    return blenderTask(`seam-${chunk[0]}`, settings, [
        "--render-format", settings.format, "--python-exit-code", "1",
        "--python-expr", `import bpy; assert ${call} == {'FINISHED'}`]);
}

function blenderTask(name, settings, args) {
    const task = author.Task(name, "blender");
    task.addCommand(author.Command("blender-render", {
        exe: "{blender}",
        exeArgs: "{blenderArgs}",
        argsBefore: [],
        blendfile: settings.blendfile,
        args: args,
    }));
    return task;
}

function authorVideoTask(settings) {
    const dir = path.dirname(settings.render_output_path);
    const task = author.Task("video", "ffmpeg");
    task.addCommand(author.Command("frames-to-video", {
        exe: "ffmpeg",
        fps: settings.fps,
        inputGlob: path.join(dir, `*${settings.image_file_extension}`),
        outputFile: path.join(dir, "stylized.mp4"),
        args: ["-c:v", "h264", "-crf", "20", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
               "-pix_fmt", "yuv420p", "-r", String(settings.fps), "-y"],
    }));
    return task;
}
