/**
 * Playwright configuration for the UI tests (galata's defaults), against a real `jupyter lab`
 * started here on 127.0.0.1, in Debian's Chromium (no browser is downloaded).
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

// One scratch folder for the server and the tests (the workers inherit the environment).
if (!process.env.SMOLDEPOT_UI_SCRATCH) {
  process.env.SMOLDEPOT_UI_SCRATCH = fs.mkdtempSync(
    path.join(os.tmpdir(), 'smoldepot-ui-')
  );
}
const scratch = process.env.SMOLDEPOT_UI_SCRATCH;
for (const dir of ['root', 'data', 'config', 'runtime', 'settings']) {
  fs.mkdirSync(path.join(scratch, dir), { recursive: true });
}
process.env.JUPYTERLAB_GALATA_ROOT_DIR = path.join(scratch, 'root');
process.env.JUPYTER_DATA_DIR = path.join(scratch, 'data');
process.env.JUPYTER_CONFIG_DIR = path.join(scratch, 'config');
process.env.JUPYTER_RUNTIME_DIR = path.join(scratch, 'runtime');
process.env.SMOLDEPOT_UI_PORT = process.env.SMOLDEPOT_UI_PORT || '18931';
const port = process.env.SMOLDEPOT_UI_PORT;
const python = process.env.PYTHON || 'python';

module.exports = {
  ...baseConfig,
  globalSetup: require.resolve('./global-setup.js'),
  timeout: 120 * 1000,
  retries: 0,
  workers: 1,
  reporter: [['list']],
  use: {
    ...baseConfig.use,
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'off',
    video: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  },
  webServer: {
    command: `${python} -m jupyter lab --config jupyter_server_test_config.py`,
    url: `http://127.0.0.1:${port}/lab`,
    timeout: 120 * 1000,
    reuseExistingServer: false
  }
};
