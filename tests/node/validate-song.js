#!/usr/bin/env node
// validate-song.js - checks GeneratedSong documents against
// docs/generated-song.schema.json, and against the rules a schema cannot
// express: the sections tile [0, duration] exactly, and `lyrics` is the
// sections' lines joined.
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
