//! The web page in a real headless browser: Debian's chromium driven through chromedriver's
//! WebDriver protocol (plain HTTP and JSON, spoken here with reqwest). It opens `/`, types a
//! question, sends it, and reads the assistant's streamed answer from the page; then asks for
//! a person and reads the ticket shown. Without chromium the test says why it did not run, and
//! fails where fixtures are required (`.ci/chromium.sh` installs it there).

mod common;
mod server_common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

/// The WebDriver element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    base: String,
    client: Client,
    session: String,
}

impl Driver {
    fn start(driver: &PathBuf, chromium: &PathBuf) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.get(format!("{base}/status")).send().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,800", "--lang=en-US"]
        }}}});
        let session: Value = client
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let id = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_string();
        Driver {
            child,
            base,
            client,
            session: id,
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = self.client.request(method, url);
        let request = match body {
            Some(b) => request.json(&b),
            None => request,
        };
        let v: Value = request.send().unwrap().json().unwrap();
        assert!(v["value"].get("error").is_none(), "{path}: {v}");
        v["value"].clone()
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            reqwest::Method::POST,
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Waits until `script` returns a truthy value; returns it.
    fn wait_for(&self, script: &str, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.script(script);
            if !(v.is_null() || v == json!(false) || v == json!("")) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn ask(&self, question: &str) {
        let input = self.find("#question");
        self.call(
            reqwest::Method::POST,
            &format!("/element/{input}/value"),
            Some(json!({"text": question})),
        );
        let send = self.find("#send");
        self.call(
            reqwest::Method::POST,
            &format!("/element/{send}/click"),
            Some(json!({})),
        );
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self
            .client
            .delete(format!("{}/session/{}", self.base, self.session))
            .send();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromium and chromedriver: `LOAM_CHROMIUM` / `LOAM_CHROMEDRIVER`, else on the PATH.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let find = |var: &str, names: &[&str]| -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_file())
        {
            return Some(p);
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|d| names.iter().map(move |n| d.join(n)))
            .find(|p| p.is_file())
    };
    match (
        find("LOAM_CHROMIUM", &["chromium", "chromium-browser"]),
        find("LOAM_CHROMEDRIVER", &["chromedriver"]),
    ) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            let why = "the_page_streams_the_assistants_answer: did not run: no chromium and chromedriver (apt-get install chromium chromium-driver, or .ci/chromium.sh)";
            if std::env::var_os("CI").is_some()
                || std::env::var_os("LOAM_REQUIRE_FIXTURES").is_some()
            {
                panic!("{why}; they are required here (CI or LOAM_REQUIRE_FIXTURES)");
            }
            eprintln!("{why}");
            None
        }
    }
}

#[test]
fn the_page_streams_the_assistants_answer() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let Some(server) = server_common::assistant_server("the_page_streams_the_assistants_answer")
    else {
        return;
    };
    let driver = Driver::start(&chromedriver, &chromium);
    driver.call(
        reqwest::Method::POST,
        "/url",
        Some(json!({"url": server.url("/")})),
    );
    assert_eq!(
        driver.script("return document.title"),
        json!("loam support")
    );

    driver.ask("How long does shipping take?");
    let answer = driver.wait_for(
        "const a = document.querySelector('#log li.assistant[data-done]'); return a ? a.querySelector('.text').textContent : null",
        "the streamed answer",
    );
    let answer = answer.as_str().unwrap();
    assert!(answer.len() > 20, "{answer}");
    assert_eq!(
        driver.script("return document.querySelector('#log li.assistant').dataset.outcome"),
        json!("answered"),
        "{answer}"
    );
    let conversation = driver.wait_for(
        "return localStorage.getItem('loam-conversation')",
        "the conversation id",
    );

    driver.ask("I want to talk to a human");
    let ticket = driver.wait_for("const t = document.querySelectorAll('#log li.assistant .ticket'); return t.length ? t[0].textContent : null", "the ticket");
    assert!(ticket.as_str().unwrap().contains("ticket"), "{ticket}");
    assert_eq!(
        driver.script("return localStorage.getItem('loam-conversation')"),
        conversation,
        "one conversation throughout"
    );

    // the page in Chinese
    let lang = driver.find("#lang");
    driver.call(
        reqwest::Method::POST,
        &format!("/element/{lang}/click"),
        Some(json!({})),
    );
    assert_eq!(
        driver.script("return document.querySelector('#send').textContent"),
        json!("发送")
    );
}
