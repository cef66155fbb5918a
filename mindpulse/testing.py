"""Test support shared by the apps' tests; the application never imports it."""

# One plausible student, inside the training ranges of the generated data.
SAMPLE_FEATURES = {
    "Age": 21,
    "Gender": "Female",
    "Department": "Science",
    "CGPA": 3.1,
    "Sleep_Duration": 6.5,
    "Study_Hours": 4.0,
    "Social_Media_Hours": 3.0,
    "Physical_Activity": 45,
    "Stress_Level": 6,
}
