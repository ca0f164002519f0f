/**
 * The run view in a real JupyterLab: executed example notebooks (untrusted, as a notebook
 * someone sent you is), the view after a reload with the kernel gone, its commands, and
 * broken run data. Screenshots go to test-results/.
 */
import {
  expect,
  galata,
  IJupyterLabPageFixture,
  test
} from '@jupyterlab/galata';

const VIEW = '.jp-OutputArea-output .smoldepot-run.sd-lab';

/** Open a notebook of global-setup.js (in the server's root, not galata's per-test folder). */
async function openFile(
  page: IJupyterLabPageFixture,
  name: string
): Promise<void> {
  await page.evaluate(
    path =>
      (window as any).jupyterapp.commands.execute('docmanager:open', { path }),
    name
  );
  await page
    .getByRole('main')
    .getByRole('tab', { name: new RegExp(`^${name}`) })
    .last()
    .waitFor();
  await page.notebook.activate(name);
}

async function open(page: IJupyterLabPageFixture, name: string): Promise<void> {
  await openFile(page, name);
  await page.locator(VIEW).first().waitFor({ timeout: 60000 });
}

async function cellCount(page: IJupyterLabPageFixture): Promise<number> {
  return page.evaluate(
    () =>
      (window as any).jupyterapp.shell.currentWidget.content.model.cells.length
  );
}

test.describe('the run view', () => {
  test('renders an executed, untrusted notebook natively, styled', async ({
    page
  }, testInfo) => {
    await open(page, 'data_analysis.ipynb');
    const trusted = await page.evaluate(
      () =>
        (window as any).jupyterapp.shell.currentWidget.content.model.cells.get(
          4
        ).trusted
    );
    expect(trusted).toBe(false);
    const views = page.locator(VIEW);
    await expect(views).toHaveCount(2);
    // The static HTML rendering is not what shows.
    await expect(
      page.locator('.jp-OutputArea-output .smoldepot-run:not(.sd-lab)')
    ).toHaveCount(0);
    const view = views.nth(1);
    await expect(view.locator('.sdl-badge')).toHaveText('success');
    await expect(view.locator('.sdl-step')).toHaveCount(3);
    await expect(view.locator('.sdl-final .sdl-answer')).toHaveText('50.2');
    // Styled without the trusted <style> of the static rendering.
    const style = await view.evaluate(node => {
      const badge = getComputedStyle(node.querySelector('.sdl-badge')!);
      const step = getComputedStyle(node.querySelector('.sdl-step')!);
      const keyword = getComputedStyle(node.querySelector('.sdl-tok-keyword')!);
      const root = getComputedStyle(document.body);
      return {
        radius: badge.borderTopLeftRadius,
        stepBorder: step.borderTopStyle,
        keyword: keyword.color,
        themeKeyword: root
          .getPropertyValue('--jp-mirror-editor-keyword-color')
          .trim()
      };
    });
    expect(style.radius).not.toBe('0px');
    expect(style.stepBorder).toBe('solid');
    expect(style.keyword).not.toBe('rgb(0, 0, 0)');
    // Figures show without unfolding anything, whole, at their aspect ratio.
    const figure = view.locator('img.sdl-image').last();
    await figure.scrollIntoViewIfNeeded();
    await expect(figure).toBeVisible();
    const fit = await figure.evaluate((img: HTMLImageElement) => {
      const box = img.getBoundingClientRect();
      const scroller = img.closest('.sdl-outputs')!.getBoundingClientRect();
      return {
        loaded: img.complete && img.naturalWidth > 0,
        ratio: box.width / box.height,
        natural: img.naturalWidth / img.naturalHeight,
        inside: box.bottom <= scroller.bottom + 1 && box.top >= scroller.top - 1
      };
    });
    expect(fit.loaded).toBe(true);
    expect(Math.abs(fit.ratio - fit.natural)).toBeLessThan(0.02);
    expect(fit.inside).toBe(true);
    // Keyboard: the step titles are buttons that fold their step.
    const title = view.locator('.sdl-step-title').first();
    await title.focus();
    await page.keyboard.press('Enter');
    await expect(title).toHaveAttribute('aria-expanded', 'false');
    await page.keyboard.press('Enter');
    await expect(title).toHaveAttribute('aria-expanded', 'true');
    await view.scrollIntoViewIfNeeded();
    await page.screenshot({ path: testInfo.outputPath('untrusted-light.png') });
    await page.theme.setDarkTheme();
    await view.scrollIntoViewIfNeeded();
    await page.screenshot({ path: testInfo.outputPath('untrusted-dark.png') });
    const dark = await view.evaluate(node => getComputedStyle(node).color);
    expect(dark).not.toBe(style.keyword);
    await page.theme.setLightTheme();
  });

  test('renders a trusted notebook the same way', async ({ page }) => {
    await open(page, 'trusted.ipynb');
    await expect(page.locator(VIEW)).toHaveCount(2);
    await expect(page.locator(`${VIEW} .sdl-step`)).toHaveCount(5);
  });

  test('is still rendered after a reload with the kernel shut down', async ({
    page
  }, testInfo) => {
    await open(page, 'quickstart.ipynb');
    await page.kernel.shutdownAll();
    await page.reload({ waitForIsReady: false } as any);
    await page.locator(VIEW).first().waitFor({ timeout: 60000 });
    await page.kernel.shutdownAll();
    await expect(page.locator(VIEW)).toHaveCount(2);
    await expect(page.locator(`${VIEW} img.sdl-image`)).toHaveCount(1);
    await page.locator(VIEW).last().scrollIntoViewIfNeeded();
    await page.screenshot({ path: testInfo.outputPath('after-reload.png') });
  });

  test('says what is wrong with broken run data', async ({ page }) => {
    await openFile(page, 'broken.ipynb');
    const problems = page.locator(`${VIEW} .sdl-problem`);
    await expect(problems).toHaveCount(2);
    await expect(problems.first()).toContainText('malformed or cut off');
    await expect(problems.nth(1)).toContainText('a list, not an object');
  });
});

test.describe('the commands on a run', () => {
  test('are in the context menu and the palette', async ({ page }) => {
    await open(page, 'quickstart.ipynb');
    await page.locator(`${VIEW} .sdl-code`).first().click({ button: 'right' });
    const menu = page.locator('.lm-Menu');
    for (const label of [
      'Copy Step Code',
      'Insert Agent Run as Cells',
      'Export Agent Run as Notebook',
      'Replay Agent Run',
      'Stop Agent'
    ]) {
      await expect(menu.getByText(label, { exact: true })).toBeVisible();
    }
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+Shift+C');
    await page.locator('#modal-command-palette input').fill('agent run');
    await expect(
      page.locator('#modal-command-palette .lm-CommandPalette-item', {
        hasText: 'Export Agent Run as Notebook'
      })
    ).toBeVisible();
    await page.keyboard.press('Escape');
  });

  test('copy the code of the step under the pointer', async ({
    page,
    context
  }) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await open(page, 'quickstart.ipynb');
    const code = page.locator(`${VIEW} .sdl-code`).first();
    const expected = await code.textContent();
    await code.click({ button: 'right' });
    await page
      .locator('.lm-Menu')
      .getByText('Copy Step Code', { exact: true })
      .click();
    await expect
      .poll(() => page.evaluate(() => navigator.clipboard.readText()))
      .toBe(expected);
  });

  test('insert the run as cells and export it as a notebook', async ({
    page
  }) => {
    await open(page, 'quickstart.ipynb');
    const before = await cellCount(page);
    await page
      .locator(`${VIEW} .sdl-header`)
      .first()
      .click({ button: 'right' });
    await page
      .locator('.lm-Menu')
      .getByText('Insert Agent Run as Cells', { exact: true })
      .click();
    await expect.poll(() => cellCount(page)).toBeGreaterThan(before + 2);
    const runId = await page.locator(VIEW).first().getAttribute('data-run-id');
    await page
      .locator(`${VIEW} .sdl-header`)
      .first()
      .click({ button: 'right' });
    await page
      .locator('.lm-Menu')
      .getByText('Export Agent Run as Notebook', { exact: true })
      .click();
    await expect(
      page.locator('.lm-TabBar-tab', { hasText: `${runId}.ipynb` })
    ).toBeVisible();
    expect(await page.contents.fileExists(`${runId}.ipynb`)).toBe(true);
    await page.notebook.revertChanges();
  });

  test.describe(() => {
    // galata's tracking of the kernels API cannot read the interrupt's empty reply: not here.
    test.use({ kernels: null, sessions: null });

    test('Stop Agent interrupts the notebook kernel', async ({ page }) => {
      await open(page, 'data_analysis.ipynb');
      await page.notebook.addCell('code', 'import time\ntime.sleep(120)');
      const index = (await cellCount(page)) - 1;
      await page.notebook.selectCells(index);
      await page.keyboard.press('Control+Enter');
      await page.waitForTimeout(2000);
      await page
        .locator(`${VIEW} .sdl-header`)
        .first()
        .click({ button: 'right' });
      await page
        .locator('.lm-Menu')
        .getByText('Stop Agent', { exact: true })
        .click();
      await expect
        .poll(
          async () =>
            ((await page.notebook.getCellTextOutput(index)) ?? []).join('\n'),
          {
            timeout: 30000
          }
        )
        .toContain('KeyboardInterrupt');
      await page.notebook.revertChanges();
    });
  });

  test('Replay Agent Run replays the recorded run in a new cell', async ({
    page
  }) => {
    await open(page, 'quickstart.ipynb');
    const before = await page.locator(VIEW).count();
    await page
      .locator(`${VIEW} .sdl-header`)
      .first()
      .click({ button: 'right' });
    await page
      .locator('.lm-Menu')
      .getByText('Replay Agent Run', { exact: true })
      .click();
    await expect(page.locator(VIEW)).toHaveCount(before + 1, {
      timeout: 90000
    });
    await expect(page.locator(`${VIEW}[data-status="success"]`)).toHaveCount(
      before + 1,
      {
        timeout: 90000
      }
    );
    await page.notebook.revertChanges();
  });
});

// galata is imported for its types in the fixtures above.
void galata;
