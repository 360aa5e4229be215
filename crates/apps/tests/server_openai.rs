//! The server's answers read by a typed OpenAI client (`async-openai`): chat whole and
//! streamed (the deltas adding up to the whole answer), completions, embeddings (the encoder's
//! own vectors) and the model list deserialize into the official types; an unknown model is an
//! error the client reads.

mod common;
mod server_common;

use std::sync::Arc;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessageArgs,
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
};
use async_openai::types::completions::CreateCompletionRequestArgs;
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use futures_util::StreamExt;
use loam_apps::provider::{LocalProvider, Provider};
use loam_apps::server::{Server, ServerConfig};
use server_common::{TestServer, tiny_llama};

#[test]
fn a_typed_openai_client_reads_every_answer() {
    let Some(llama) = common::fixture("tiny-llama", "a_typed_openai_client_reads_every_answer")
    else {
        return;
    };
    let Some(minilm) = common::minilm_dir("a_typed_openai_client_reads_every_answer") else {
        return;
    };
    let encoder = Arc::new(LocalProvider::encoder_only(&minilm).unwrap());
    let config = ServerConfig {
        api_keys: vec!["test-key".into()],
        ..ServerConfig::default()
    };
    let server = TestServer::start(
        Server::new(config)
            .with_model(tiny_llama(&llama))
            .unwrap()
            .with_embedder("all-MiniLM-L6-v2", encoder.clone()),
    );
    let client = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(server.url("/v1"))
            .with_api_key("test-key"),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let messages: Vec<ChatCompletionRequestMessage> = vec![
            ChatCompletionRequestSystemMessageArgs::default()
                .content("You answer briefly.")
                .build()
                .unwrap()
                .into(),
            ChatCompletionRequestUserMessageArgs::default()
                .content("Where is my parcel?")
                .build()
                .unwrap()
                .into(),
        ];
        let request = CreateChatCompletionRequestArgs::default()
            .model("tiny-llama")
            .messages(messages.clone())
            .max_completion_tokens(10u32)
            .temperature(0.0)
            .build()
            .unwrap();
        let whole = client
            .chat()
            .create(request.clone())
            .await
            .expect("a chat completion");
        assert_eq!(whole.model, "tiny-llama");
        assert_eq!(whole.choices.len(), 1);
        let text = whole.choices[0].message.content.clone().unwrap_or_default();
        let usage = whole.usage.expect("usage");
        assert_eq!(
            usage.total_tokens,
            usage.prompt_tokens + usage.completion_tokens
        );
        assert!(usage.completion_tokens <= 10);

        let mut stream = client
            .chat()
            .create_stream(request)
            .await
            .expect("a chat stream");
        let mut streamed = String::new();
        let mut finish = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("a chunk");
            assert_eq!(chunk.object, "chat.completion.chunk");
            for choice in chunk.choices {
                streamed.push_str(choice.delta.content.as_deref().unwrap_or(""));
                finish = choice.finish_reason.or(finish);
            }
        }
        assert_eq!(
            streamed, text,
            "the streamed deltas add up to the whole answer"
        );
        assert_eq!(finish, whole.choices[0].finish_reason);

        let completion = CreateCompletionRequestArgs::default()
            .model("tiny-llama")
            .prompt("Once upon a time")
            .max_tokens(6u32)
            .temperature(0.0)
            .build()
            .unwrap();
        let completed = client
            .completions()
            .create(completion)
            .await
            .expect("a completion");
        assert_eq!(completed.choices.len(), 1);
        assert_eq!(completed.object, "text_completion");

        let inputs = vec![
            "free returns within 30 days".to_string(),
            "我的包裹在哪里".to_string(),
        ];
        let request = CreateEmbeddingRequestArgs::default()
            .model("all-MiniLM-L6-v2")
            .input(inputs.clone())
            .build()
            .unwrap();
        let embedded = client
            .embeddings()
            .create(request)
            .await
            .expect("embeddings");
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let expected = encoder.embed(&refs).unwrap();
        assert_eq!(embedded.data.len(), 2);
        for (item, want) in embedded.data.iter().zip(&expected) {
            assert!(
                item.embedding
                    .iter()
                    .zip(want)
                    .all(|(a, b)| (a - b).abs() < 1e-6)
            );
        }

        let models = client.models().list().await.expect("the model list");
        let ids: Vec<&str> = models.data.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["tiny-llama", "all-MiniLM-L6-v2"]);

        let unknown = CreateChatCompletionRequestArgs::default()
            .model("no-such-model")
            .messages(messages)
            .build()
            .unwrap();
        let err = client
            .chat()
            .create(unknown)
            .await
            .expect_err("an unknown model is an error");
        assert!(err.to_string().contains("no-such-model"), "{err}");
    });
}
