// A small stand-in of Flamenco's job-compiler API (Flamenco itself does not run here): the
// globals a job type sees (author.Task, author.Command, frameChunker, path, print), recording
// the tasks a job type authors. Usage: node flamenco_standin.js JOB_TYPE.js SETTINGS_JSON
// prints {"job_type": ..., "tasks": [...]} or {"error": "..."}.
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

function Task(name, type) {
    return {
        name, type, commands: [], dependencies: [],
        addCommand(command) { this.commands.push(command); },
        addDependency(task) { this.dependencies.push(task.name); },
    };
}

function Command(type, parameters) {
    return { type, parameters };
}

// Flamenco's frameChunker: "1-10" in chunks of 4 -> ["1-4", "5-8", "9-10"] (ranges, commas).
function frameChunker(frames, chunkSize) {
    const all = [];
    for (const part of String(frames).split(",")) {
        const [a, b] = part.split("-").map(s => parseInt(s.trim(), 10));
        for (let f = a; f <= (isNaN(b) ? a : b); f++) all.push(f);
    }
    const chunks = [];
    for (let i = 0; i < all.length; i += chunkSize) {
        const chunk = all.slice(i, i + chunkSize);
        chunks.push(chunk.length === 1 ? `${chunk[0]}` : `${chunk[0]}-${chunk[chunk.length - 1]}`);
    }
    return chunks;
}

const [jobTypeFile, settingsJson] = process.argv.slice(2);
const context = { author: { Task, Command }, frameChunker, path, print: console.error, console };
vm.createContext(context);
vm.runInContext(fs.readFileSync(jobTypeFile, "utf8") + "\n;globalThis.__JOB_TYPE = JOB_TYPE;", context);
const job = { name: "test", settings: JSON.parse(settingsJson), tasks: [],
              addTask(task) { this.tasks.push(task); } };
try {
    context.compileJob(job);
    console.log(JSON.stringify({ job_type: context.__JOB_TYPE, tasks: job.tasks }));
} catch (err) {
    console.log(JSON.stringify({ error: String(err) }));
}
