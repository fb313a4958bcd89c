from rag_core.db import QueryLog
from rag_core.services import Services


def log_question(services: Services, question: str, answer: str) -> int:
    with services.db.session() as session:
        entry = QueryLog(
            question=question, answer=answer, embedding=services.embedder.embed_one(question)
        )
        session.add(entry)
        session.flush()
        return entry.id


def test_similar_past_questions_by_meaning_newest_answer_once(services: Services) -> None:
    log_question(services, "Maximum dose of paracetamol for children?", "old answer")
    newest = log_question(services, "maximum dose of paracetamol for children?", "new answer")
    log_question(services, "How long is the notice period?", "ninety days")
    log_question(services, "Where is the car park?", "behind the clinic")
    asked = log_question(services, "max paracetamol dose for kids", "just asked")

    similar = services.similar_questions("max paracetamol dose for kids", exclude=(asked,))
    assert [(p.id, p.answer) for p in similar] == [(newest, "new answer")]
    assert similar[0].similarity > services.settings.similar_question_floor

    everything = services.history.similar(
        services.embedder.embed_one("max paracetamol dose for kids"), min_similarity=-1.0
    )
    assert everything[0].answer == "just asked"  # identical text: closest
    assert len(everything) == 4  # one per distinct question


def test_insights_count_answers_whose_written_sentences_all_verified(services: Services) -> None:
    from datetime import UTC, datetime, timedelta

    with services.db.session() as session:
        for written, verified in [(0, 0), (2, 2), (3, 1), (1, 1)]:
            session.add(
                QueryLog(
                    question="q",
                    answer="a",
                    answer_mode="auto",
                    sentences_written=written,
                    sentences_verified=verified,
                )
            )
    figures = services.insights(datetime.now(UTC) - timedelta(days=1))
    assert (figures.written_answers, figures.verified_answers) == (3, 2)
    assert figures.verified_rate == 2 / 3
