// links.mjs ROOT — fails when a link in the Markdown documents leads nowhere.
//
// Reads ROOT/README.md and every ROOT/docs/**/*.md. For each link or image
// (inline `[text](target)`, reference definitions `[label]: target`, and
// HTML `href`/`src` attributes) whose target is not an external URL:
//   - a relative path must exist, inside ROOT (the documents must stand
//     alone for whoever clones the repository);
//   - a `#fragment`, alone (this file) or after a path to a Markdown file,
//     must name a heading of that file, by GitHub's rule for heading ids:
//     the heading's text, lower-cased, punctuation dropped, spaces turned
//     into '-', and "-1", "-2"... added to repeats. An explicit
//     `<a id="...">` or `name="..."` counts as well.
// Links inside fenced code blocks and `code spans` are not links, and are
// skipped. Prints every broken link as FILE:LINE: the problem, and exits 1
// if there is any; otherwise prints one summary line and exits 0.
// No npm dependencies: node:fs and node:path only.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = process.argv[2];
if (!root) {
  console.error('usage: node links.mjs ROOT');
  process.exit(2);
}
const ROOT = resolve(root);

function markdownFiles() {
  const files = [];
  const readme = join(ROOT, 'README.md');
  if (existsSync(readme)) files.push(readme);
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.md')) files.push(path);
    }
  };
  const docs = join(ROOT, 'docs');
  if (existsSync(docs)) walk(docs);
  return files;
}

// ---- the text of a line with code removed, and which lines are code

// Returns the lines of a file, with each line inside a fenced code block
// replaced by '' and every `code span` blanked out (kept the same length,
// so nothing after it moves), so that neither is read as a link or heading.
function proseLines(text) {
  const lines = text.split(/\r?\n/);
  let fence = null; // the opening fence's character and length while inside one
  return lines.map((line) => {
    const m = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (m && m[1][0] === fence[0] && m[1].length >= fence.length && /^\s*[`~]+\s*$/.test(line)) fence = null;
      return '';
    }
    if (m) {
      fence = m[1];
      return '';
    }
    return blankCodeSpans(line);
  });
}

function blankCodeSpans(line) {
  let out = '';
  let i = 0;
  while (i < line.length) {
    if (line[i] === '\\' && i + 1 < line.length) {
      out += line.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (line[i] === '`') {
      let n = 0;
      while (line[i + n] === '`') n++;
      const ticks = '`'.repeat(n);
      const close = findClosingTicks(line, i + n, ticks);
      if (close < 0) {
        out += ticks;
        i += n;
        continue;
      }
      out += ' '.repeat(close + n - i);
      i = close + n;
      continue;
    }
    out += line[i];
    i++;
  }
  return out;
}

function findClosingTicks(line, from, ticks) {
  for (let j = line.indexOf(ticks, from); j >= 0; j = line.indexOf(ticks, j + 1)) {
    if (line[j + ticks.length] !== '`' && line[j - 1] !== '`') return j;
  }
  return -1;
}

// ---- headings and their ids

// GitHub's id for a heading: the rendered text, lower-cased; every
// character that is not a letter, digit, mark, space, '-' or '_' dropped;
// each space turned into '-'.
function slug(headingText) {
  const rendered = headingText
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1') // images: their alt text
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // links: their text
    .replace(/\[([^\]]*)\]\[[^\]]*\]/g, '$1') // reference links
    .replace(/<[^>]+>/g, '') // HTML tags
    .replace(/`/g, '');
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

// Whether a line could be the text of a setext heading (not blank, and not
// a list item, table row, heading, quote or rule of its own).
function isParagraphText(line) {
  return line.trim() !== '' && !/^ {0,3}([-*+]|\d+[.)])\s/.test(line) && !/^\s*\|/.test(line) &&
         !/^ {0,3}(#|>)/.test(line) && !/^ {0,3}([-*_=])(\s*\1){2,}\s*$/.test(line);
}

const anchorCache = new Map();

// Every id a Markdown file's headings (and explicit anchors) give it.
function anchorsOf(file) {
  if (anchorCache.has(file)) return anchorCache.get(file);
  const ids = new Set();
  const seen = new Map();
  const raw = readFileSync(file, 'utf8').split(/\r?\n/);
  const lines = proseLines(readFileSync(file, 'utf8'));
  const add = (base) => {
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n === 0 ? base : `${base}-${n}`);
  };
  lines.forEach((line, i) => {
    const atx = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (atx) {
      // the heading's text from the raw line: code spans count by their content
      const rawAtx = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(raw[i]);
      add(slug((rawAtx && rawAtx[1]) || ''));
    } else if (i > 0 && /^ {0,3}(=+|-+)[ \t]*$/.test(line) && isParagraphText(lines[i - 1])) {
      add(slug(raw[i - 1].trim())); // a setext heading: text underlined with === or ---
    }
    for (const m of raw[i].matchAll(/<a\s[^>]*?(?:id|name)\s*=\s*["']([^"']+)["']/gi)) ids.add(m[1]);
  });
  anchorCache.set(file, ids);
  return ids;
}

// ---- links

// Every link target on a line of prose: [text](target "title"), ![alt](target),
// [label]: target, and href="..." / src="...".
function targetsOn(line) {
  const targets = [];
  const def = /^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(line);
  if (def) targets.push(def[1].replace(/^<|>$/g, ''));
  // ](  then a destination: <...> or a run without spaces and with balanced parentheses
  const re = /\]\(\s*/g;
  let m;
  while ((m = re.exec(line)) !== null) {
    if (m.index > 0 && line[m.index - 1] === '\\') continue;
    let i = re.lastIndex;
    let dest = '';
    if (line[i] === '<') {
      const end = line.indexOf('>', i);
      if (end < 0) continue;
      dest = line.slice(i + 1, end);
    } else {
      let depth = 0;
      for (; i < line.length; i++) {
        const c = line[i];
        if (c === '\\' && i + 1 < line.length) {
          dest += line[i + 1];
          i++;
          continue;
        }
        if (c === '(') depth++;
        else if (c === ')') {
          if (depth === 0) break;
          depth--;
        } else if (/\s/.test(c)) break;
        dest += c;
      }
    }
    if (dest !== '') targets.push(dest);
  }
  for (const h of line.matchAll(/\b(?:href|src)\s*=\s*["']([^"']+)["']/gi)) targets.push(h[1]);
  return targets;
}

const external = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i; // http:, https:, mailto:, //host...

function check(file, problems) {
  const lines = proseLines(readFileSync(file, 'utf8'));
  let count = 0;
  lines.forEach((line, i) => {
    for (const target of targetsOn(line)) {
      if (external.test(target)) continue;
      count++;
      const where = `${relative(ROOT, file)}:${i + 1}`;
      const hash = target.indexOf('#');
      let pathPart = hash < 0 ? target : target.slice(0, hash);
      const fragment = hash < 0 ? null : target.slice(hash + 1);
      pathPart = pathPart.replace(/\?.*$/, '');
      let decoded;
      try {
        decoded = decodeURIComponent(pathPart);
      } catch {
        problems.push(`${where}: ${target}: the path is not valid percent-encoding`);
        continue;
      }
      if (decoded.startsWith('/')) {
        problems.push(`${where}: ${target}: an absolute path; link relative to the file`);
        continue;
      }
      const dest = decoded === '' ? file : resolve(dirname(file), decoded);
      if (dest !== ROOT && !dest.startsWith(ROOT + sep)) {
        problems.push(`${where}: ${target}: leads outside the repository`);
        continue;
      }
      if (!existsSync(dest)) {
        problems.push(`${where}: ${target}: no such file ${relative(ROOT, dest)}`);
        continue;
      }
      if (fragment === null) continue;
      if (fragment === '') {
        problems.push(`${where}: ${target}: an empty #fragment`);
        continue;
      }
      if (!statSync(dest).isFile() || !dest.endsWith('.md')) {
        // GitHub's line anchors into source files (#L10, #L10-L20) are fine;
        // nothing else in a file that is not Markdown can be checked
        if (!/^L\d+(?:-L\d+)?$/.test(fragment))
          problems.push(`${where}: ${target}: a #fragment into a file that is not Markdown`);
        continue;
      }
      let id;
      try {
        id = decodeURIComponent(fragment);
      } catch {
        id = fragment;
      }
      if (!anchorsOf(dest).has(id))
        problems.push(`${where}: ${target}: no heading #${id} in ${relative(ROOT, dest)}`);
    }
  });
  return count;
}

const files = markdownFiles();
const problems = [];
let links = 0;
for (const f of files) links += check(f, problems);
for (const p of problems) console.log(p);
if (problems.length > 0) {
  console.log(`docs.links: ${problems.length} broken of ${links} links in ${files.length} files`);
  process.exit(1);
}
console.log(`docs.links: ${links} links in ${files.length} files, all resolve`);
