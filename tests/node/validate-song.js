#!/usr/bin/env node
// validate-song.js - checks GeneratedSong documents against
// docs/generated-song.schema.json, and against the rules a schema cannot
// express: the sections tile [0, duration] exactly, `lyrics` is the
// sections' lines joined, and the windows tile the codes, each under its
// section's prompt, every section change starting one, with `prompts` the
// distinct window prompts in order.
//
//   node tests/node/validate-song.js FILE...     (or "-" / no FILE: stdin)
//
// Prints "FILE: ok" or "FILE: <path>: <what is wrong>" for each error.
// Exits 0 when every document is valid, 1 when one is not, 2 on a usage or
// read error.
'use strict';

const fs = require('fs');
const path = require('path');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

const schemaPath = path.join(__dirname, '..', '..', 'docs', 'generated-song.schema.json');

function loadValidator() {
  const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  return ajv.compile(schema);
}

// The checks beyond the schema, on a document the schema accepted.
function semanticErrors(song) {
  const errors = [];
  const sections = song.sections;
  if (sections[0].start !== 0) errors.push(`/sections/0/start: must be 0, not ${sections[0].start}`);
  sections.forEach((s, i) => {
    if (!(s.start < s.end)) errors.push(`/sections/${i}: start ${s.start} is not before end ${s.end}`);
    if (i + 1 < sections.length && s.end !== sections[i + 1].start)
      errors.push(`/sections/${i}/end: ${s.end} is not the next section's start ${sections[i + 1].start}`);
    const ms = [s.start, s.end].map((t) => t * 1000);
    if (ms.some((t) => Math.abs(t - Math.round(t)) > 1e-6))
      errors.push(`/sections/${i}: boundaries ${s.start}, ${s.end} are not whole milliseconds`);
  });
  const last = sections[sections.length - 1];
  if (last.end !== song.duration)
    errors.push(`/sections/${sections.length - 1}/end: ${last.end} is not the duration ${song.duration}`);
  const joined = sections
    .filter((s) => s.lyrics.length > 0)
    .map((s) => s.lyrics.join('\n'))
    .join('\n\n');
  if (song.lyrics !== joined) errors.push('/lyrics: is not the sections\' lines joined (a blank line between sections)');
  if (song.windows) errors.push(...windowErrors(song));
  return errors;
}

// The windows against the sections and the codes. Windows are whole frames
// and sections whole milliseconds, so they meet within half a frame.
function windowErrors(song) {
  const errors = [];
  const { windows, sections, codes } = song;
  const half = 0.5 / codes.frame_rate + 1e-9;
  const length = codes.shape[1] / codes.frame_rate;
  const frame = 1 / codes.frame_rate; // a song has at least one

  windows.forEach((w, i) => {
    const at = `/windows/${i}`;
    const expectStart = i === 0 ? 0 : windows[i - 1].end;
    if (w.start !== expectStart) errors.push(`${at}/start: ${w.start} is not ${i === 0 ? '0' : 'the previous end ' + expectStart}`);
    if (!(w.start < w.end)) errors.push(`${at}: start ${w.start} is not before end ${w.end}`);
    if (w.context > w.start + 1e-9) errors.push(`${at}/context: ${w.context} s of context before ${w.start} s`);
    if (i > 0 && w.section < windows[i - 1].section) errors.push(`${at}/section: goes back to section ${w.section}`);
    const s = sections[w.section];
    if (!s) {
      errors.push(`${at}/section: ${w.section} is not a section`);
      return;
    }
    if (w.prompt !== s.prompt) errors.push(`${at}/prompt: is not section ${w.section}'s prompt`);
    if (w.start < s.start - half || w.end > Math.max(s.end, frame) + half)
      errors.push(`${at}: [${w.start}, ${w.end}] is not within section ${w.section} [${s.start}, ${s.end}]`);
  });
  const last = windows[windows.length - 1];
  if (last.end !== length) errors.push(`/windows/${windows.length - 1}/end: ${last.end} is not the codes' length ${length}`);
  if (Math.abs(length - Math.max(song.duration, frame)) > half) errors.push(`/codes/shape: ${length} s of codes for a ${song.duration} s song`);
  sections.forEach((s, i) => {
    if (i > 0 && s.start < length - half && !windows.some((w) => Math.abs(w.start - s.start) <= half))
      errors.push(`/sections/${i}: its change at ${s.start} s starts no window`);
  });
  const rendered = [];
  windows.forEach((w) => { if (!rendered.includes(w.prompt)) rendered.push(w.prompt); });
  if (JSON.stringify(rendered) !== JSON.stringify(song.prompts))
    errors.push('/prompts: are not the windows\' prompts, each once, in order');
  return errors;
}

function check(validate, name, text) {
  let song;
  try {
    song = JSON.parse(text);
  } catch (e) {
    return [`not JSON: ${e.message}`];
  }
  if (!validate(song)) {
    return validate.errors.map((e) => `${e.instancePath || '/'}: ${e.message}` +
      (e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''));
  }
  return semanticErrors(song);
}

function main(argv) {
  const files = argv.length ? argv : ['-'];
  if (files.some((f) => f === '-h' || f === '--help')) {
    console.log('usage: validate-song [FILE...]   (no FILE or "-": read stdin)');
    return 0;
  }
  let validate;
  try {
    validate = loadValidator();
  } catch (e) {
    console.error(`validate-song: cannot load ${schemaPath}: ${e.message}`);
    return 2;
  }
  let status = 0;
  for (const f of files) {
    const name = f === '-' ? '<stdin>' : f;
    let text;
    try {
      text = fs.readFileSync(f === '-' ? 0 : f, 'utf8');
    } catch (e) {
      console.error(`${name}: cannot read: ${e.message}`);
      status = 2;
      continue;
    }
    const errors = check(validate, name, text);
    if (errors.length === 0) {
      console.log(`${name}: ok`);
    } else {
      for (const e of errors) console.log(`${name}: ${e}`);
      if (status === 0) status = 1;
    }
  }
  return status;
}

process.exitCode = main(process.argv.slice(2));
