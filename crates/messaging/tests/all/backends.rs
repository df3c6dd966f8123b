//! The `Broker` suite, run against every backend by `broker_test!`: the
//! embedded broker and NATS (a fresh loopback `nats-server` per test).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use skiff_messaging::{
    Broker, CONTENT_TYPE, Error, MemoryBroker, Message, NatsBroker, NatsConfig, Subscription,
};
use skiff_test_support::nats_server::NatsServer;

use crate::{WAIT, drain_ready, next, text};

/// Keeps a backend's resources (the server) alive for a test.
pub struct Fixture {
    pub broker: Arc<dyn Broker>,
    _server: Option<NatsServer>,
}

impl Fixture {
    pub fn memory() -> Self {
        Fixture {
            broker: Arc::new(MemoryBroker::new()),
            _server: None,
        }
    }

    pub async fn nats() -> Result<Self> {
        let server = NatsServer::start()?;
        let broker = NatsBroker::connect(&NatsConfig::new(server.url())).await?;
        anyhow::ensure!(broker.describe() == server.url(), "{}", broker.describe());
        Ok(Fixture {
            broker: Arc::new(broker),
            _server: Some(server),
        })
    }
}

/// Defines `mod $name` with one test per backend, each running `$body`
/// with `$broker: Arc<dyn Broker>` bound to that backend.
macro_rules! broker_test {
    ($name:ident, |$broker:ident| $body:block) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn memory() -> Result<()> {
                let fixture = Fixture::memory();
                let $broker = fixture.broker.clone();
                $body
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn nats() -> Result<()> {
                let fixture = Fixture::nats().await?;
                let $broker = fixture.broker.clone();
                $body
            }
        }
    };
}

/// Headers sorted by name, the values of one name in their order (NATS
/// keeps no order between names).
fn sorted(mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    headers
}

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

/// Answers every request on `subscription` with `reply(request)`, until the
/// test ends.
fn serve(
    broker: &Arc<dyn Broker>,
    mut subscription: Subscription,
    reply: impl Fn(&Message) -> Message + Send + 'static,
) {
    let broker = broker.clone();
    tokio::spawn(async move {
        use futures_util::StreamExt;
        while let Some(request) = subscription.next().await {
            let Some(reply_to) = request.reply_to.clone() else {
                continue;
            };
            let mut answer = reply(&request);
            answer.subject = reply_to;
            if broker.publish(answer).await.is_err() {
                break;
            }
        }
    });
}

broker_test!(publish_subscribe_round_trip, |broker| {
    let mut subscription = broker.subscribe("greetings.hello", None).await?;
    let headers = vec![
        header(CONTENT_TYPE, "text/plain; charset=utf-8"),
        header("x-trace", "t1"),
        header("x-trace", "t2"),
        header("X-Mixed-Case", "kept"),
    ];
    let mut message = Message::new("greetings.hello", "hello, world");
    message.headers = headers.clone();
    message.reply_to = Some("greetings.replies".into());
    broker.publish(message).await?;
    let every_byte: Vec<u8> = (0..=255).collect();
    broker
        .publish(Message::new("greetings.hello", every_byte.clone()))
        .await?;
    broker.publish(Message::new("greetings.hello", "")).await?;

    let first = next(&mut subscription).await?;
    assert_eq!(first.subject, "greetings.hello");
    assert_eq!(text(&first), "hello, world");
    assert_eq!(first.reply_to.as_deref(), Some("greetings.replies"));
    assert_eq!(first.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(first.header("x-mixed-case"), Some("kept"));
    assert_eq!(sorted(first.headers), sorted(headers));

    let second = next(&mut subscription).await?;
    assert_eq!(second.payload, every_byte);
    assert!(second.headers.is_empty(), "{:?}", second.headers);
    assert_eq!(second.reply_to, None);
    let third = next(&mut subscription).await?;
    assert!(third.payload.is_empty());
    Ok(())
});

broker_test!(messages_arrive_in_order, |broker| {
    let mut subscription = broker.subscribe("seq", None).await?;
    for i in 0..1000 {
        broker.publish(Message::new("seq", i.to_string())).await?;
    }
    for i in 0..1000 {
        assert_eq!(text(&next(&mut subscription).await?), i.to_string());
    }
    Ok(())
});

broker_test!(nobody_subscribed_is_not_an_error, |broker| {
    broker
        .publish(Message::new("nobody.listens", "lost"))
        .await?;
    // Published before the subscription: gone (at most once).
    let mut subscription = broker.subscribe("nobody.listens", None).await?;
    broker
        .publish(Message::new("nobody.listens", "seen"))
        .await?;
    assert_eq!(text(&next(&mut subscription).await?), "seen");
    Ok(())
});

broker_test!(wildcards, |broker| {
    let mut one = broker.subscribe("orders.*", None).await?;
    let mut rest = broker.subscribe("orders.>", None).await?;
    let mut middle = broker.subscribe("*.eu.created", None).await?;
    for subject in [
        "orders",
        "orders.eu",
        "orders.eu.created",
        "shipments.eu.created",
        "orders.us.created",
    ] {
        broker.publish(Message::new(subject, subject)).await?;
    }
    // A last message each subscription matches: whatever came before it
    // is all it got.
    broker.publish(Message::new("orders.end", "end")).await?;
    broker
        .publish(Message::new("end.eu.created", "end"))
        .await?;

    let subjects = |messages: Vec<skiff_messaging::Message>| {
        messages.into_iter().map(|m| m.subject).collect::<Vec<_>>()
    };
    let until_end = async |subscription: &mut Subscription| -> Result<Vec<Message>> {
        let mut got = Vec::new();
        loop {
            let message = next(subscription).await?;
            let end = text(&message) == "end";
            got.push(message);
            if end {
                return Ok(got);
            }
        }
    };
    assert_eq!(
        subjects(until_end(&mut one).await?),
        ["orders.eu", "orders.end"]
    );
    assert_eq!(
        subjects(until_end(&mut rest).await?),
        [
            "orders.eu",
            "orders.eu.created",
            "orders.us.created",
            "orders.end"
        ]
    );
    assert_eq!(
        subjects(until_end(&mut middle).await?),
        [
            "orders.eu.created",
            "shipments.eu.created",
            "end.eu.created"
        ]
    );
    Ok(())
});

broker_test!(queue_groups, |broker| {
    const N: usize = 100;
    let mut a = broker.subscribe("jobs.run", Some("workers")).await?;
    let mut b = broker.subscribe("jobs.run", Some("workers")).await?;
    let mut everything = broker.subscribe("jobs.run", None).await?;
    for i in 0..N {
        broker
            .publish(Message::new("jobs.run", i.to_string()))
            .await?;
    }
    broker.publish(Message::new("jobs.run", "end")).await?;

    // The ungrouped subscription gets every message, in order.
    for i in 0..N {
        assert_eq!(text(&next(&mut everything).await?), i.to_string());
    }
    assert_eq!(text(&next(&mut everything).await?), "end");

    // The group gets each message once, shared between its members. The
    // last one arrives after all the others: once one member has it,
    // whatever the group got is there to take.
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let message = tokio::select! {
            Some(message) = futures_util::StreamExt::next(&mut a) => { got_a.push(text(&message)); message }
            Some(message) = futures_util::StreamExt::next(&mut b) => { got_b.push(text(&message)); message }
            _ = tokio::time::sleep_until(deadline) => bail!("the group did not get `end` within {WAIT:?}"),
        };
        if text(&message) == "end" {
            break;
        }
    }
    got_a.extend(drain_ready(&mut a).iter().map(text));
    got_b.extend(drain_ready(&mut b).iter().map(text));

    let all: Vec<&String> = got_a.iter().chain(&got_b).collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    ensure!(
        all.len() == N + 1 && distinct.len() == N + 1,
        "each message once: a got {got_a:?}, b got {got_b:?}"
    );
    // Both members took a share (NATS picks at random: all 101 to one
    // member has odds of 2^-100).
    ensure!(
        !got_a.is_empty() && !got_b.is_empty(),
        "a got {}, b got {}",
        got_a.len(),
        got_b.len()
    );
    Ok(())
});

broker_test!(request_with_one_replier, |broker| {
    let service = broker.subscribe("svc.echo", None).await?;
    serve(&broker, service, |request| {
        let mut reply = Message::new(
            "",
            format!(
                "echo: {} (x-id {})",
                text(request),
                request.header("x-id").unwrap_or("none")
            ),
        );
        reply.headers = vec![header(CONTENT_TYPE, "text/plain")];
        reply
    });
    let mut request = Message::new("svc.echo", "hi");
    request.headers = vec![header("x-id", "7")];
    // Ignored: a request gets a fresh reply subject.
    request.reply_to = Some("somewhere.else".into());
    let replies = broker.request(request, Some(WAIT), 1).await?;
    assert_eq!(replies.len(), 1);
    assert_eq!(text(&replies[0]), "echo: hi (x-id 7)");
    assert_eq!(replies[0].content_type(), Some("text/plain"));
    assert!(
        replies[0].subject.starts_with("_INBOX."),
        "{}",
        replies[0].subject
    );

    // No timeout: the reply still comes.
    let replies = broker
        .request(Message::new("svc.echo", "again"), None, 1)
        .await?;
    assert_eq!(text(&replies[0]), "echo: again (x-id none)");
    Ok(())
});

broker_test!(request_collects_several_replies, |broker| {
    for id in 0..3 {
        let service = broker.subscribe("svc.census", None).await?;
        serve(&broker, service, move |_| {
            Message::new("", format!("replier {id}"))
        });
    }
    // All three answer: the request returns as soon as it has them.
    let replies = broker
        .request(Message::new("svc.census", "who is there?"), Some(WAIT), 3)
        .await?;
    let names: BTreeSet<String> = replies.iter().map(text).collect();
    assert_eq!(
        names,
        BTreeSet::from(["replier 0".into(), "replier 1".into(), "replier 2".into()])
    );

    // Asking for more than there are: the timeout ends it, with what came.
    let replies = broker
        .request(
            Message::new("svc.census", "anyone else?"),
            Some(Duration::from_millis(500)),
            5,
        )
        .await?;
    assert_eq!(replies.len(), 3, "{replies:?}");
    Ok(())
});

broker_test!(request_without_reply_times_out, |broker| {
    // Subscribed, so somebody is there, but it never answers.
    let _silent = broker.subscribe("svc.silent", None).await?;
    let timeout = Duration::from_millis(300);
    for max_replies in [1, 3] {
        let result = broker
            .request(
                Message::new("svc.silent", "hello?"),
                Some(timeout),
                max_replies,
            )
            .await;
        assert_eq!(
            result,
            Err(Error::Timeout(timeout)),
            "max_replies {max_replies}"
        );
    }
    Ok(())
});

broker_test!(request_without_subscriber_has_no_responders, |broker| {
    for max_replies in [1, 3] {
        let result = broker
            .request(
                Message::new("svc.nobody", "hello?"),
                Some(WAIT),
                max_replies,
            )
            .await;
        assert_eq!(
            result,
            Err(Error::NoResponders("svc.nobody".into())),
            "max_replies {max_replies}"
        );
    }
    Ok(())
});

broker_test!(invalid_subjects_are_rejected, |broker| {
    for subject in ["", "a..b", ".a", "a.", "a b", "a.*", "a.>", "*", ">"] {
        match broker.publish(Message::new(subject, "x")).await {
            Err(Error::InvalidSubject(_)) => {}
            other => bail!("publish on {subject:?}: expected InvalidSubject, got {other:?}"),
        }
        match broker
            .request(Message::new(subject, "x"), Some(WAIT), 1)
            .await
        {
            Err(Error::InvalidSubject(_)) => {}
            other => bail!("request on {subject:?}: expected InvalidSubject, got {other:?}"),
        }
    }
    for subject in ["", "a..b", "a.>.b", ">.a", "a\tb"] {
        match broker.subscribe(subject, None).await {
            Err(Error::InvalidSubject(_)) => {}
            Err(other) => bail!("subscribe to {subject:?}: expected InvalidSubject, got {other:?}"),
            Ok(_) => bail!("subscribe to {subject:?}: expected InvalidSubject, got a subscription"),
        }
    }
    match broker.subscribe("a.b", Some("two words")).await {
        Err(Error::InvalidSubject(_)) => {}
        Err(other) => bail!("queue group with a space: expected InvalidSubject, got {other:?}"),
        Ok(_) => bail!("queue group with a space: expected InvalidSubject, got a subscription"),
    }
    // Invalid header names are refused, not a panic.
    let mut message = Message::new("a.b", "x");
    message.headers = vec![header("bad name", "v")];
    assert!(matches!(
        broker.publish(message).await,
        Err(Error::Other(_))
    ));
    Ok(())
});

broker_test!(payload_over_the_limit_is_rejected, |broker| {
    const LIMIT: usize = MemoryBroker::MAX_PAYLOAD;
    let mut subscription = broker.subscribe("big", None).await?;
    broker
        .publish(Message::new("big", vec![7u8; LIMIT]))
        .await?;
    assert_eq!(next(&mut subscription).await?.payload.len(), LIMIT);

    for result in [
        broker
            .publish(Message::new("big", vec![7u8; LIMIT + 1]))
            .await,
        broker
            .request(Message::new("big", vec![7u8; LIMIT + 1]), Some(WAIT), 1)
            .await
            .map(drop),
    ] {
        match result {
            Err(Error::Other(message)) => {
                ensure!(message.contains(&(LIMIT + 1).to_string()), "{message}");
                ensure!(message.contains(&LIMIT.to_string()), "{message}");
            }
            other => bail!("expected Other naming the size and the limit, got {other:?}"),
        }
    }
    Ok(())
});

broker_test!(dropped_subscription_is_gone, |broker| {
    let subscription = broker.subscribe("svc.gone", Some("workers")).await?;
    drop(subscription);
    // Nobody is left to answer.
    let result = broker
        .request(Message::new("svc.gone", "anyone?"), Some(WAIT), 1)
        .await;
    assert_eq!(result, Err(Error::NoResponders("svc.gone".into())));
    Ok(())
});
