//! The fake Twilio answers like Twilio's Messages API: the documented route, basic auth, the
//! documented error codes, and a message resource of Twilio's shape.

use std::time::Duration;

use serde_json::Value;
use siq_e2e::fakes::{FakeTwilio, TwilioCredentials};

async fn fake() -> (FakeTwilio, String) {
    let twilio = FakeTwilio::start(([127, 0, 0, 1], 0).into(), TwilioCredentials::demo()).await.unwrap();
    let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", twilio.base_url(), twilio.credentials().account_sid);
    (twilio, url)
}

async fn post(url: &str, user: &str, password: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new().post(url).basic_auth(user, Some(password)).form(form).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_valid_message_is_queued_recorded_and_answered_with_a_message_resource() {
    let (twilio, url) = fake().await;
    let creds = twilio.credentials().clone();
    let (status, body) =
        post(&url, &creds.account_sid, &creds.auth_token, &[("To", "+15550100"), ("From", "+15550199"), ("Body", "Hello Dana")]).await;

    assert_eq!(status, 201, "{body}");
    let sid = body["sid"].as_str().unwrap();
    assert!(sid.len() == 34 && sid.starts_with("SM") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()), "{sid}");
    assert_eq!(body["account_sid"], creds.account_sid);
    assert_eq!(
        (body["to"].as_str(), body["from"].as_str(), body["body"].as_str()),
        (Some("+15550100"), Some("+15550199"), Some("Hello Dana"))
    );
    assert_eq!(body["status"], "queued");
    assert_eq!(body["direction"], "outbound-api");
    assert!(body["date_created"].as_str().unwrap().ends_with(" +0000"));
    assert_eq!(body["uri"], format!("/2010-04-01/Accounts/{}/Messages/{sid}.json", creds.account_sid));

    let sent = twilio.wait_for_messages(1, Duration::from_secs(1)).await;
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].sid.as_str(), sent[0].to.as_str(), sent[0].body.as_str()), (sid, "+15550100", "Hello Dana"));
    assert!(twilio.rejections().is_empty());
    twilio.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_get_twilios_20003() {
    let (twilio, url) = fake().await;
    let sid = twilio.credentials().account_sid.clone();
    let (status, body) = post(&url, &sid, "wrong", &[("To", "+15550100"), ("From", "+15550199"), ("Body", "x")]).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], 20003);
    assert_eq!(body["message"], "Authenticate");
    assert_eq!(body["status"], 401);
    assert_eq!(body["more_info"], "https://www.twilio.com/docs/errors/20003");

    // Right password, but another account's path.
    let other = url.replace(&sid, "AC00000000000000000000000000000000");
    let (status, body) = post(&other, &sid, &twilio.credentials().auth_token, &[("To", "+15550100"), ("From", "+1"), ("Body", "x")]).await;
    assert_eq!((status, body["code"].as_u64()), (401, Some(20003)));

    // No credentials at all.
    let response = reqwest::Client::new().post(&url).form(&[("To", "+15550100")]).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));

    assert!(twilio.messages().is_empty());
    assert_eq!(twilio.rejections().len(), 3);
}

#[tokio::test]
async fn missing_or_invalid_fields_get_twilios_codes() {
    let (twilio, url) = fake().await;
    let TwilioCredentials { account_sid, auth_token } = twilio.credentials().clone();
    let long = "x".repeat(1601);
    let cases: [(&[(&str, &str)], u64); 5] = [
        (&[("From", "+15550199"), ("Body", "hi")], 21604),
        (&[("To", "+15550100"), ("Body", "hi")], 21603),
        (&[("To", "+15550100"), ("From", "+15550199")], 21602),
        (&[("To", "555-0100"), ("From", "+15550199"), ("Body", "hi")], 21211),
        (&[("To", "+15550100"), ("From", "+15550199"), ("Body", long.as_str())], 21617),
    ];
    for (form, code) in cases {
        let (status, body) = post(&url, &account_sid, &auth_token, form).await;
        assert_eq!((status, body["code"].as_u64()), (400, Some(code)), "{form:?}: {body}");
        assert_eq!(body["status"], 400);
    }
    assert!(twilio.messages().is_empty());
}

#[tokio::test]
async fn other_paths_are_404_and_waiting_for_messages_that_never_come_returns_what_there_is() {
    let (twilio, _) = fake().await;
    let response = reqwest::Client::new().get(format!("{}/2010-04-01/Accounts", twilio.base_url())).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], 20404);
    assert!(twilio.wait_for_messages(1, Duration::from_millis(100)).await.is_empty());
}
