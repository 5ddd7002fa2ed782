//! DynamoDB tables a test creates on its moto server, and reads back.

use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use ferry_task_host::sources::attribute_values::item_to_json;

use crate::moto::Moto;

/// A DynamoDB table the test created, with a runtime for the test's own
/// calls.
#[derive(Debug)]
pub struct Table {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_dynamodb::Client,
    name: String,
}

impl Table {
    /// Creates the on-demand table `name` in `moto`, keyed by the string
    /// attribute `hash_key`.
    pub fn create(moto: &Moto, name: &str, hash_key: &str) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let client = runtime.block_on(async { aws_sdk_dynamodb::Client::new(&moto.sdk_config().await) });
        let definition = AttributeDefinition::builder()
            .attribute_name(hash_key)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("an attribute definition");
        let key = KeySchemaElement::builder().attribute_name(hash_key).key_type(KeyType::Hash).build().expect("a key");
        let request = client
            .create_table()
            .table_name(name)
            .attribute_definitions(definition)
            .key_schema(key)
            .billing_mode(BillingMode::PayPerRequest)
            .send();
        runtime.block_on(request).expect("create the table");
        Self { runtime, client, name: name.to_owned() }
    }

    /// Every item, as the plain JSON ferry's DynamoDB sources hand items to
    /// handlers as, which is also the document an item was written from.
    pub fn scan(&self) -> Vec<serde_json::Value> {
        self.runtime.block_on(async {
            let mut items = Vec::new();
            let mut start = None;
            loop {
                let page = self
                    .client
                    .scan()
                    .table_name(&self.name)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .expect("scan");
                items.extend(page.items().iter().map(item_to_json));
                start = page.last_evaluated_key;
                if start.is_none() {
                    return items;
                }
            }
        })
    }
}
