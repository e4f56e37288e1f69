"""The screenshot of the training DAG's graph in Airflow's UI for docs/airflow.md:
headless Chromium (Debian's `chromium`) in a fresh profile logs in as the admin
and takes the graph of the DAG's latest run, through Chrome's DevTools protocol
(aiohttp's WebSocket client).

    python docs/airflow_screenshot.py [AIRFLOW_HOME] [OUTPUT.png]

AIRFLOW_HOME defaults to `make airflow`'s; Airflow must run there with a run of
the training DAG."""

import common.bootstrap  # noqa: F401  (first, as in every entry point)

# isort: split

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import aiohttp

from operations import local_airflow
from pipeline.component_ids import TRAINING_PIPELINE

WIDTH, HEIGHT = 1600, 900
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run']


class Page:
    """One tab, driven over its DevTools WebSocket."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse):
        self.socket, self.ids = socket, itertools.count(1)

    async def call(self, method: str, **params: object) -> dict:
        number = next(self.ids)
        await self.socket.send_json({'id': number, 'method': method, 'params': params})
        while True:
            message = json.loads((await self.socket.receive()).data)
            if message.get('id') == number:
                if 'error' in message:
                    raise RuntimeError(f'{method}: {message["error"]}')
                return message.get('result', {})

    async def evaluate(self, expression: str) -> object:
        result = await self.call('Runtime.evaluate', expression=expression, returnByValue=True)
        return result.get('result', {}).get('value')

    async def open(self, url: str, ready: str, seconds: float = 60) -> None:
        """Goes to url and waits until the JavaScript `ready` is true."""
        await self.call('Page.navigate', url=url)
        deadline = time.monotonic() + seconds
        while not await self.evaluate(ready):
            if time.monotonic() > deadline:
                where = await self.evaluate("location.href + ' ' + document.title")
                raise TimeoutError(f'{url}: {ready} never held (at {where})')
            await asyncio.sleep(0.5)


async def _shoot(devtools: str, url: str, password: str, run_id: str, output: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(devtools, max_msg_size=0) as socket:
            page = Page(socket)
            await page.call('Page.enable')
            await page.call('Emulation.setDeviceMetricsOverride', width=WIDTH, height=HEIGHT,
                            deviceScaleFactor=1, mobile=False)
            await page.open(f'{url}/login/', "!!document.querySelector('#password')")
            await page.evaluate(
                f"document.querySelector('#username').value = {json.dumps(local_airflow.ADMIN)};"
                f"document.querySelector('#password').value = {json.dumps(password)};"
                "document.querySelector('form[name=login]').submit(); true")
            await asyncio.sleep(3)
            run = urllib.parse.quote(run_id)
            await page.open(f'{url}/dags/{TRAINING_PIPELINE}/grid?tab=graph&dag_run_id={run}',
                            "document.readyState == 'complete'")
            await asyncio.sleep(15)       # the grid, then the graph, drawn and laid out
            shot = await page.call('Page.captureScreenshot', format='png')
            with open(output, 'wb') as f:
                f.write(base64.b64decode(shot['data']))


def _devtools_url(port: int, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list', timeout=2) as r:
                pages = [t for t in json.load(r) if t['type'] == 'page']
            if pages:
                return pages[0]['webSocketDebuggerUrl']
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError('Chromium did not open its DevTools port')
        time.sleep(0.3)


def main() -> None:
    home = sys.argv[1] if len(sys.argv) > 1 else os.path.join(local_airflow.default_cache(),
                                                              'home')
    output = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'airflow-training-dag.png')
    port = local_airflow.recorded_port(home)
    airflow = local_airflow.LocalAirflow(local_airflow.Installation(''), home, port or 0)
    password = local_airflow.password(airflow)
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if port is None or password is None or chromium is None:
        sys.exit(f'error: needs Airflow running in {home} (make airflow) and chromium')
    runs = local_airflow.request(airflow, f'/api/v1/dags/{TRAINING_PIPELINE}/dagRuns?'
                                          'order_by=-start_date&limit=1', password=password)
    if not runs['dag_runs']:
        sys.exit(f'error: no run of {TRAINING_PIPELINE} yet: trigger one first')
    run_id = runs['dag_runs'][0]['dag_run_id']
    from serving.local_server import free_port
    debugging = free_port()
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.Popen(
            [chromium, *FLAGS, f'--user-data-dir={profile}', f'--window-size={WIDTH},{HEIGHT}',
             f'--remote-debugging-port={debugging}', 'about:blank'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            asyncio.run(_shoot(_devtools_url(debugging), airflow.url, password, run_id, output))
        finally:
            browser.terminate()
            browser.wait(10)
    print(f'Wrote {output}')


if __name__ == '__main__':
    main()
