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
// its own frames. The still set comes from the shot's clean plate (a still camera), the same in
// every chunk, so the chunk boundary does not pop.
// A shot without one (its camera or a light moves: Apply Styles said so) renders in one task
// (`whole_shot`): its chunks' strokes would not match, whatever the warm-up (docs/farm.md).

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
          description: "Frames rendered before each chunk (not kept) so Temporal Coherence starts warm; 0: none" },
        { key: "whole_shot", type: "bool", visible: "submission",
          eval: "bool(C.scene.nst.get('no_plate'))",
          evalInfo: { showLinkButton: true, description: "The shot has no clean plate (Apply Styles said why)" },
          description: "Render the shot in one task: a shot whose camera or light moves has no clean plate, and its chunks would not match" },
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
    const chunkSize = settings.whole_shot ? range[1] - range[0] + 1 : settings.chunk_size;
    const renderTasks = frameChunker(settings.frames, chunkSize)
        .map(chunk => authorRenderTask(settings, parseRange(chunk), range));
    for (const task of renderTasks) {
        job.addTask(task);
    }
    if (settings.make_video) {
        const video = authorVideoTask(settings);
        for (const task of renderTasks) {
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

function authorRenderTask(settings, chunk, range) {
    const [first, last] = chunk;
    const shotStart = Math.min(settings.shot_start === undefined ? range[0] : settings.shot_start, first);
    const warmFirst = Math.max(first - Math.max(settings.warmup_frames || 0, 0), shotStart);
    const args = [];
    if (warmFirst < first) {
        const scratch = path.join(path.dirname(settings.render_output_path),
                                  "_nst_warmup", `chunk_${first}`, "######");
        args.push("--render-output", scratch, "--render-format", settings.format,
                  "--frame-start", String(warmFirst), "--frame-end", String(first - 1), "--render-anim");
    }
    args.push("--render-output", settings.render_output_path, "--render-format", settings.format,
              "--frame-start", String(first), "--frame-end", String(last), "--render-anim");
    const task = author.Task(`render-${first}-${last}`, "blender");
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
