// The chat page: sends the question to /v1/chat/completions as the assistant, reads the
// server-sent events as they stream (fetch + ReadableStream), and keeps the conversation id.
"use strict";

const TEXT = {
  en: { title: "loam support", send: "Send", newChat: "New conversation", placeholder: "Ask a question…", other: "中文",
        ticket: "Handed to a person: ticket", conversation: "Conversation", error: "Error" },
  zh: { title: "loam 客服", send: "发送", newChat: "新对话", placeholder: "请输入您的问题…", other: "English",
        ticket: "已转人工，工单号", conversation: "对话", error: "出错了" },
};

const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("loam-lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
let conversationId = localStorage.getItem("loam-conversation") || null;

function applyLanguage() {
  const t = TEXT[lang];
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  $("title").textContent = t.title;
  $("send").textContent = t.send;
  $("new").textContent = t.newChat;
  $("question").placeholder = t.placeholder;
  $("lang").textContent = t.other;
  showConversation();
}

function showConversation() {
  $("conversation").textContent = conversationId ? `${TEXT[lang].conversation} ${conversationId}` : "";
}

function addMessage(role, text) {
  const item = document.createElement("li");
  item.className = role;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.appendChild(body);
  $("log").appendChild(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

function showSuggestions(list) {
  const box = $("suggestions");
  box.replaceChildren();
  for (const s of list || []) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = s;
    b.addEventListener("click", () => ask(s));
    box.appendChild(b);
  }
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("key").value.trim();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

// Reads `data:` events from a streamed response, calling `onEvent` with each one's data.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data) onEvent(data);
    }
  }
}

async function ask(question) {
  addMessage("user", question);
  showSuggestions([]);
  const answer = addMessage("assistant", "");
  const text = answer.querySelector(".text");
  const body = { model: "loam-assistant", stream: true, messages: [{ role: "user", content: question }] };
  if (conversationId) body.conversation_id = conversationId;
  try {
    const response = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (!response.ok) {
      const err = await response.json().catch(() => ({ error: { message: response.statusText } }));
      throw new Error(err.error ? err.error.message : response.statusText);
    }
    const id = response.headers.get("X-Conversation-Id");
    if (id) {
      conversationId = id;
      localStorage.setItem("loam-conversation", id);
      showConversation();
    }
    await readEvents(response, (data) => {
      if (data === "[DONE]") return;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
      if (delta && delta.content) text.textContent += delta.content;
      if (chunk.loam) {
        if (chunk.loam.ticket_id) {
          const ticket = document.createElement("span");
          ticket.className = "ticket";
          ticket.textContent = `${TEXT[lang].ticket} ${chunk.loam.ticket_id}`;
          answer.appendChild(ticket);
        }
        answer.dataset.outcome = chunk.loam.outcome ? chunk.loam.outcome.type : "";
        showSuggestions(chunk.loam.suggestions);
      }
    });
    answer.dataset.done = "true";
  } catch (e) {
    answer.className = "assistant error";
    text.textContent = `${TEXT[lang].error}: ${e.message}`;
    answer.dataset.done = "true";
  }
}

$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = $("question").value.trim();
  if (!q) return;
  $("question").value = "";
  ask(q);
});
$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("loam-lang", lang);
  applyLanguage();
});
$("new").addEventListener("click", () => {
  conversationId = null;
  localStorage.removeItem("loam-conversation");
  $("log").replaceChildren();
  showSuggestions([]);
  showConversation();
});
applyLanguage();
