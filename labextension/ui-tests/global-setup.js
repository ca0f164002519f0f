/**
 * Before the UI tests: the example notebooks executed in the server's folder (their recorded
 * runs replayed for real, so each `%%agent` output holds a real run), one copy of them trusted
 * (signed as `jupyter trust` would), and a notebook whose run data is cut off.
 */
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples', 'notebooks');
const NOTEBOOKS = ['quickstart.ipynb', 'data_analysis.ipynb'];

module.exports = async () => {
  const root = process.env.JUPYTERLAB_GALATA_ROOT_DIR;
  const python = process.env.PYTHON || 'python';
  fs.cpSync(path.join(EXAMPLES, 'records'), path.join(root, 'records'), {
    recursive: true
  });
  for (const name of NOTEBOOKS) {
    fs.copyFileSync(path.join(EXAMPLES, name), path.join(root, name));
    execFileSync(
      python,
      ['-m', 'smoldepot_jupyter.cli', 'execute', name, '--output', name],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300000 }
    );
  }
  fs.copyFileSync(
    path.join(root, 'data_analysis.ipynb'),
    path.join(root, 'trusted.ipynb')
  );
  execFileSync(python, ['-m', 'jupyter', 'trust', 'trusted.ipynb'], {
    cwd: root,
    stdio: 'ignore'
  });
  // A run whose JSON was cut off mid-write, and one that is not a run at all.
  const notebook = JSON.parse(
    fs.readFileSync(path.join(root, 'quickstart.ipynb'), 'utf-8')
  );
  const mime = 'application/vnd.smoldepot.run+json';
  const text = '{"version": 4, "task": "cut off", "steps": [{"type": "act';
  notebook.cells = [
    {
      cell_type: 'code',
      execution_count: 1,
      id: 'broken-1',
      metadata: {},
      source: '%%agent\ncut off',
      outputs: [
        {
          output_type: 'display_data',
          metadata: {},
          data: { [mime]: text, 'text/plain': 'run (cut off)' }
        },
        {
          output_type: 'display_data',
          metadata: {},
          data: { [mime]: [1, 2, 3], 'text/plain': 'not a run' }
        }
      ]
    }
  ];
  fs.writeFileSync(
    path.join(root, 'broken.ipynb'),
    JSON.stringify(notebook, null, 1)
  );
};
